#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (corpus/<target>/<name>): small inputs that already mean something to
each target, so that libFuzzer starts from real requests, netstrings, chat lines... rather than from nothing.

Each target decodes its input with libFuzzer's FuzzedDataProvider, which takes the numbers (limits, cut sizes,
choices) from the END of the input and strings from the front. `Input` below writes bytes the same way, so a seed
says "limits 200/400/300, cuts of 7 bytes, then this request" and comes out as the bytes that decode to exactly
that. Re-run after changing how a target decodes its input: python3 tests/fuzz/make_seeds.py
"""
import os
import sys


class Input:
    def __init__(self):
        self.front = bytearray()
        self.back = []  # the numbers, in the order the target consumes them

    def integer(self, lo, hi, value):
        """ConsumeIntegralInRange(lo, hi) == value."""
        assert lo <= value <= hi, (lo, value, hi)
        span, offset, raw = hi - lo, 0, value - lo
        width = 0
        while offset < 64 and (span >> offset) > 0:
            width += 1
            offset += 8
        self.back.append(raw.to_bytes(width, "big") if width else b"")
        return self

    def boolean(self, value):
        self.back.append(bytes([1 if value else 0]))
        return self

    def int64(self, value):
        """ConsumeIntegral<int64_t>() == value."""
        return self.integer(-(1 << 63), (1 << 63) - 1, value)

    def string(self, data, max_length):
        """ConsumeRandomLengthString(max_length) == data."""
        assert len(data) <= max_length
        for b in data:
            self.front += b"\\\\" if b == 0x5C else bytes([b])
        if len(data) < max_length:
            self.front += b"\\x"
        return self

    def fixed(self, data):
        """ConsumeBytesAsString(len(data)) == data."""
        self.front += data
        return self

    def rest(self, data):
        """ConsumeRemainingBytesAsString() == data: the numbers are stored after it."""
        out = bytes(self.front) + data
        tail = b"".join(self.back)  # consumed from the last byte backwards
        return out + tail[::-1]


# ---- fuzz_framer: spec = kind(0..6) ..., plan of 1..4 entries, max_message, cut sizes, stream.
KNOWN_DELIMITERS = [b"\r\n", b"\n", b"\r\n.\r\n", b"aab", b"abab", b"\r\n\r\n", b"\0", b"b"]


def framer_spec(i, spec):
    kind = spec[0]
    if kind == "none":
        i.integer(0, 6, 0)
    elif kind == "delimiter":
        i.integer(0, 6, 1)
        framer_delimiter(i, spec[1])
    elif kind == "count":
        i.integer(0, 6, 2).integer(0, 16, spec[1])
    elif kind == "any":
        i.integer(0, 6, 3).integer(1, 3, len(spec[1]))
        for d in spec[1]:
            framer_delimiter(i, d)
    elif kind == "length":  # ("length", header_bytes, big, adjustment choice 0..3 [, value])
        i.integer(0, 6, 4).integer(0, 3, [1, 2, 4, 8].index(spec[1])).boolean(spec[2]).integer(0, 3, spec[3])
        if spec[3] == 1:
            i.integer(-3, 3, spec[4])
        elif spec[3] == 2:
            i.int64(spec[4])
    elif kind == "netstring":
        i.integer(0, 6, 6)


def framer_delimiter(i, d):
    if d in KNOWN_DELIMITERS:
        i.boolean(True).integer(0, len(KNOWN_DELIMITERS) - 1, KNOWN_DELIMITERS.index(d))
    else:
        i.boolean(False).integer(1, 4, len(d)).fixed(d)


def framer_seed(initial, plan, max_message, cuts, stream):
    """plan: [(spec or None for keep, unread bytes or None)]."""
    i = Input()
    framer_spec(i, initial)
    i.integer(1, 4, len(plan))
    for spec, unread in plan:
        i.integer(0, 3, 0 if spec is None else 1)
        if spec is not None:
            framer_spec(i, spec)
        i.integer(0, 3, 0 if unread is not None else 1)
        if unread is not None:
            i.string(unread, 12)
    i.boolean(max_message == 0)
    if max_message:
        i.integer(1, 64, max_message)
    i.integer(1, 16, len(cuts))
    for c in cuts:
        i.integer(0, 24, c)
    return i.rest(stream)


def netstring(p):
    return b"%d:%s," % (len(p), p)


FRAMER = {
    "crlf_lines": framer_seed(("delimiter", b"\r\n"), [(None, None)], 0, [3], b"HELO x\r\nMAIL FROM:<a>\r\n\r\nrest"),
    "smtp_data_dot": framer_seed(("delimiter", b"\r\n.\r\n"), [(("delimiter", b"\r\n"), None)], 0, [1, 2, 5],
                                 b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
    "count_then_lines": framer_seed(("count", 5), [(("delimiter", b"\n"), None), (("count", 3), None)], 0, [2],
                                    b"12345line\nabcnext\n"),
    "netstrings": framer_seed(("netstring",), [(None, None)], 0, [4],
                              netstring(b"hello") + netstring(b"") + netstring(b"a,b:c") + b"05:bad,"),
    "length_prefixed_u32": framer_seed(("length", 4, True, 3), [(None, None)], 0, [1, 3],
                                       b"\0\0\0\x05hello\0\0\0\0\0\0\0\x02ab"),
    "length_prefixed_counts_itself": framer_seed(("length", 2, False, 0), [(("length", 1, True, 3), None)], 16, [5],
                                                 b"\x05\0abc\x03xyz"),
    "length_prefixed_extreme_adjustment": framer_seed(("length", 8, True, 2, -(1 << 63)), [(None, None)], 0, [8],
                                                      b"\x80\0\0\0\0\0\0\x02ab"),
    "any_delimiter_crlf_lf": framer_seed(("any", [b"\r\n", b"\n"]), [(None, None)], 0, [1],
                                         b"a\r\nb\nc\r\r\nd"),
    "unread_in_found_terminator": framer_seed(("delimiter", b"\n"), [(("count", 2), b"xy\n"), (None, None)], 0, [3],
                                              b"line\nrest\nmore"),
    "rule_switches": framer_seed(("netstring",), [(("length", 1, True, 3), None), (("any", [b"ab", b"b"]), b"1:u,"),
                                                  (("none",), None)], 32, [2, 0, 7],
                                 netstring(b"n1") + b"\x03abc" + b"xxab" + b"tail"),
    "max_message_over": framer_seed(("delimiter", b"\r\n"), [(None, None)], 8, [4], b"short\r\nthis one is too long\r\n"),
}


# ---- fuzz_http_request: limits (request line, header bytes, body, pending output), cut sizes, stream.
def http_request_seed(stream, cuts=(7,), line=200, headers=400, body=300, pending=600):
    i = Input().integer(8, 200, line).integer(0, 400, headers).integer(0, 300, body).integer(1, 600, pending)
    i.integer(1, 8, len(cuts))
    for c in cuts:
        i.integer(1, 40, c)
    return i.rest(stream)


GET = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
HTTP_REQUEST = {
    "get_1_0": http_request_seed(b"GET /index.html?x=1 HTTP/1.0\r\n\r\n"),
    "pipelined_pair": http_request_seed(GET + b"HEAD /b%20c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", (3, 11)),
    "post_with_body": http_request_seed(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + GET),
    "bare_lf_keep_alive": http_request_seed(b"GET /x HTTP/1.0\nConnection: keep-alive\n\nGET /204 HTTP/1.0\n\n", (1,)),
    "smuggling_cl_te": http_request_seed(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + GET),
    "smuggling_two_lengths": http_request_seed(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                                               b"Content-Length: 30\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"),
    "obs_fold_and_space": http_request_seed(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  folded\r\nBad : v\r\n\r\n"),
    "too_long_line": http_request_seed(b"GET /" + b"a" * 60 + b" HTTP/1.1\r\n\r\n", line=40),
    "body_too_large": http_request_seed(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 99999\r\n\r\n", body=100),
    "backpressure_stream": http_request_seed(b"GET /stream/1 HTTP/1.1\r\nHost: h\r\n\r\n" * 3 + GET, pending=8),
    "if_modified_since": http_request_seed(b"GET /304 HTTP/1.1\r\nHost: h\r\n"
                                           b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"),
    "routes_and_errors": http_request_seed(b"GET /throws HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\n"
                                           b"PUT /x HTTP/1.1\r\nHost: h\r\n\r\nGET /odd HTTP/2.0\r\n\r\n"),
}


# ---- fuzz_http_response: limits, HEAD?, cut sizes, whether the connection ends, stream.
def http_response_seed(stream, head=False, cuts=(5,), ends=True, line=200, headers=400):
    i = Input().integer(12, 200, line).integer(0, 400, headers).integer(0, 3, 0 if head else 1)
    i.integer(1, 8, len(cuts))
    for c in cuts:
        i.integer(1, 40, c)
    i.boolean(ends)
    return i.rest(stream)


HTTP_RESPONSE = {
    "ok_with_length": http_response_seed(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"),
    "read_to_close": http_response_seed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this", cuts=(1,)),
    "head_with_length": http_response_seed(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n", head=True),
    "continue_then_204": http_response_seed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
    "cut_short": http_response_seed(b"HTTP/1.0 200 OK\r\nContent-Length: 50\r\n\r\nonly a bit"),
    "chunked_refused": http_response_seed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "bad_lengths": http_response_seed(b"HTTP/1.0 301 Moved\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
}


# ---- fuzz_line: delimiter, strip_cr, max, drop_long, script, cut sizes, stream.
LINE_DELIMITERS = [b"\r\n", b"\n", b"\0", b"ab", b"\r\n\r\n", b"\r"]
ACTIONS = ["none", "raw", "close", "delimiter", "strip_cr", "send"]


def line_seed(stream, delimiter=b"\r\n", strip_cr=False, max_length=16, drop_long=False, script=(), cuts=(3,)):
    i = Input().integer(0, len(LINE_DELIMITERS) - 1, LINE_DELIMITERS.index(delimiter)).boolean(strip_cr)
    i.boolean(max_length == 0)
    if max_length:
        i.integer(1, 40, max_length)
    i.boolean(drop_long).integer(0, 6, len(script))
    for a in script:
        name, n = (a, 0) if isinstance(a, str) else a
        i.integer(0, 5, ACTIONS.index(name))
        if name == "raw":
            i.integer(0, 24, n)
        if name == "delimiter":
            i.integer(0, len(LINE_DELIMITERS) - 1, n)
    i.integer(1, 8, len(cuts))
    for c in cuts:
        i.integer(1, 24, c)
    return i.rest(stream)


LINE = {
    "chat_lines": line_seed(b"/nick ann\r\nhello all\r\n/quit\r\n", script=["send"]),
    "lf_with_strip_cr": line_seed(b"one\r\ntwo\nthree\r\r\n", delimiter=b"\n", strip_cr=True, cuts=(1,)),
    "raw_block_then_lines": line_seed(b"len 5\r\n12345next\r\nline\r\n", script=[("raw", 5), "none"]),
    "over_long_dropped": line_seed(b"short\r\n" + b"x" * 30 + b"\r\nafter\r\n", max_length=10, drop_long=True),
    "over_long_closes": line_seed(b"x" * 20 + b"\r\nnever\r\n", max_length=10),
    "cr_allowance": line_seed(b"abcd\r\nabcde\r\n", delimiter=b"\n", strip_cr=True, max_length=4, drop_long=True),
    "delimiter_switch": line_seed(b"a\r\nbabcabd\0e\0", script=[("delimiter", 3), ("delimiter", 2), "strip_cr"]),
    "close_mid_read": line_seed(b"one\r\ntwo\r\nthree\r\n", script=["none", "close"]),
}


# ---- fuzz_smtp: max_size, max_command_line, max_recipients, cut sizes, reply choice, stream.
def smtp_seed(stream, cuts=(9,), max_size=200, max_line=64, max_rcpt=3, reply=0):
    i = Input().integer(0, 400, max_size).integer(8, 600, max_line).integer(1, 8, max_rcpt)
    i.integer(0, 2, reply).integer(1, 8, len(cuts))
    for c in cuts:
        i.integer(1, 40, c)
    return i.rest(stream)


ENVELOPE = b"EHLO c\r\nMAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n"
SMTP = {
    "one_message": smtp_seed(ENVELOPE + b"Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n"),
    "pipelined_two": smtp_seed(ENVELOPE + b"x\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<e@f>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n",
                               cuts=(1, 3)),
    # CVE-2023-51764/-51765/-51766: <LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF> must not end the message.
    "smuggling_bare_lf_dot": smtp_seed(ENVELOPE + b"a\n.\nMAIL FROM:<evil@x>\r\nb\r\n.\r\nc\n.\r\nd\r\n.\n\r\n.\r\n"),
    "too_big": smtp_seed(ENVELOPE + b"x" * 60 + b"\r\n" + b"y" * 60 + b"\r\n.\r\n", max_size=50),
    "errors": smtp_seed(b"HELO\r\nMAIL FROM:a\r\nRCPT TO:<x>\r\nDATA\r\nVRFY x\r\nHELP\r\nNOOP\r\nRSET\r\nBOGUS\r\n"
                        b"EHLO " + b"x" * 80 + b"\r\nQUIT\r\n"),
    "recipients_bound": smtp_seed(b"HELO c\r\nMAIL FROM:<a>\r\n" + b"RCPT TO:<r@x>\r\n" * 5 + b"DATA\r\n.\r\n", max_rcpt=2,
                                  reply=1),
}

# ---- fuzz_tls: mode (0 server reads a first flight, 1 client reads a server's answer, 2 corrupted records), then
# the reads (mode 0/1: pieces of at most 2048 bytes) or the XOR mask (mode 2).
def client_hello():
    """A real ClientHello (TLS 1.2 and 1.3 offered, SNI localhost), from Python's ssl over memory BIOs."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tls_seed(mode, pieces=(), mask=None):
    i = Input().integer(0, 2, mode)
    if mask is not None:
        return i.rest(mask)
    for p in pieces:
        i.string(p, 2048)
    return i.rest(b"")


def tls_seeds():
    hello = client_hello()
    return {
        "client_hello": tls_seed(0, [hello]),
        "client_hello_in_pieces": tls_seed(0, [hello[:5], hello[5:9], hello[9:]]),
        "plaintext_http": tls_seed(0, [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
        "sslv2_hello": tls_seed(0, [b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + b"\x00" * 37]),
        "server_alert": tls_seed(1, [b"\x15\x03\x03\x00\x02\x02\x28"]),
        "server_hello_truncated": tls_seed(1, [b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03"]),
        "records_intact": tls_seed(2, mask=b""),
        "record_bit_flipped": tls_seed(2, mask=b"\x00" * 20 + b"\x01"),
        "record_header_changed": tls_seed(2, mask=b"\x00\x00\x00\x00\x20"),
    }


# ---- fuzz_proxy: a byte for the piece size, a byte for the v2 bound, then the stream.
def proxy_v2(command, family, addresses, tlvs=b""):
    body = addresses + tlvs
    return (b"\r\n\r\n\0\r\nQUIT\n" + bytes([0x20 | command, family]) + len(body).to_bytes(2, "big") + body)


PROXY = {
    "v1_tcp4": b"\x04\x02PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\nEHLO x\r\n",
    "v1_tcp6": b"\x00\x02PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
    "v1_unknown": b"\x07\x00PROXY UNKNOWN ffff::1 ::1 1 2\r\n",
    "v2_tcp4": b"\x05\x02" + proxy_v2(1, 0x11, bytes([198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x40, 0, 80])) + b"GET /",
    "v2_tcp6_tlv": b"\x0b\x01" + proxy_v2(1, 0x21, bytes(range(32)) + b"\x01\xbb\x00\x19", b"\x01\x00\x02h2"),
    "v2_local": b"\x01\x02" + proxy_v2(0, 0x00, b"") + b"ping\n",
    "v2_unix": b"\x03\x02" + proxy_v2(1, 0x31, b"/a" + bytes(106) + b"/b" + bytes(106)),
    "not_a_header": b"\x02\x02GET / HTTP/1.0\r\n\r\n",
}


TARGETS = {"fuzz_framer": FRAMER, "fuzz_proxy": PROXY, "fuzz_http_request": HTTP_REQUEST, "fuzz_http_response": HTTP_RESPONSE,
           "fuzz_line": LINE, "fuzz_smtp": SMTP, "fuzz_tls": tls_seeds()}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for target, seeds in TARGETS.items():
        d = os.path.join(here, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print("wrote", sum(len(s) for s in TARGETS.values()), "seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
