"""Python's ssl and smtplib against the asynchat command's TLS services (test_tls_command.cpp runs one scenario per
call, on every backend). Every socket has a timeout: a server that does not answer fails the scenario, it does not
hang it. The server certificate names 127.0.0.1, which check_hostname verifies against the IP address.

usage: tls_clients.py SCENARIO PORT CA_FILE [ARG...]
Prints "ok SCENARIO" and exits 0, or prints "FAIL reason" and exits 1.

  echo PORT CA LINE              a line sent over TLS comes back; then a clean close (close_notify both ways)
  chat PORT CA                   the room's greeting arrives over TLS
  smtplib PORT CA MAILDIR        smtplib.starttls(), a new EHLO, a delivery checked byte for byte in MAILDIR/new
  inject PORT CA COMMANDS        CVE-2011-0411: "STARTTLS\\r\\n" + COMMANDS in one segment; none is answered
  mail-before-ehlo PORT CA       after STARTTLS the session starts over: MAIL before a new EHLO is 503
  require-tls PORT CA            --require-tls: MAIL before STARTTLS is 530, after it 250
"""
import os
import smtplib
import socket
import ssl
import sys

from stored_message import without_received

TIMEOUT = 20
SCENARIO, PORT, CA = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ARGS = sys.argv[4:]


def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)


def context():
    ctx = ssl.create_default_context(cafile=CA)
    ctx.check_hostname = True
    return ctx


def tls_connect():
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    return context().wrap_socket(raw, server_hostname="127.0.0.1")


class lines:
    """CRLF lines from a socket, one recv at a time, so that nothing past the line asked for is read."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1)
            if not chunk:
                fail("connection closed; had %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One SMTP reply: its lines up to the one whose fourth byte is a space."""
        got = []
        while True:
            line = self.line()
            got.append(line)
            if len(line) < 4 or line[3:4] == b" ":
                return got


def echo():
    line = ARGS[0].encode() + b"\r\n"
    with tls_connect() as s:
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            chunk = s.recv(65536)
            if not chunk:
                fail("closed after %r" % got)
            got += chunk
        if got != line:
            fail("echoed %r, sent %r" % (got, line))
        # close_notify from us; the server answers with its own and closes.
        s.unwrap()


def chat():
    with tls_connect() as s:
        r = lines(s)
        hello = r.line()
        if not hello.startswith(b"HELLO guest-"):
            fail("greeting %r" % hello)


def smtplib_scenario():
    maildir = ARGS[0]
    new = os.path.join(maildir, "new")
    before = set(os.listdir(new)) if os.path.isdir(new) else set()
    msg = b"From: a@x\r\nTo: b@y\r\nSubject: over tls\r\n\r\nsecret\r\n"
    with smtplib.SMTP("127.0.0.1", PORT, timeout=TIMEOUT) as s:
        s.ehlo()
        if not s.has_extn("starttls"):
            fail("no STARTTLS in EHLO: %r" % s.esmtp_features)
        code, text = s.starttls(context=context())
        if code != 220:
            fail("STARTTLS %d %r" % (code, text))
        # starttls() forgets the extensions; the new EHLO (over TLS) must not offer STARTTLS again.
        s.ehlo()
        if s.has_extn("starttls"):
            fail("STARTTLS offered again over TLS")
        if not isinstance(s.sock, ssl.SSLSocket) or s.sock.version() is None:
            fail("not over TLS")
        refused = s.sendmail("a@x", ["b@y"], msg)
        if refused:
            fail("refused %r" % refused)
    added = sorted(set(os.listdir(new)) - before)
    if len(added) != 1:
        fail("%d new files in new/, expected 1" % len(added))
    with open(os.path.join(new, added[0]), "rb") as f:
        stored = f.read()
    try:
        stored = without_received(stored, added[0], with_="ESMTPS")
    except ValueError as e:
        fail(str(e))
    expected = b"Return-Path: <a@x>\r\nX-Envelope-To: <b@y>\r\n" + msg
    if stored != expected:
        fail("stored %r, expected %r" % (stored, expected))


def plain_smtp():
    """A plaintext connection past EHLO: the socket and its line reader."""
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    r = lines(sock)
    if not r.reply()[0].startswith(b"220 "):
        fail("no greeting")
    sock.sendall(b"EHLO client\r\n")
    ehlo = r.reply()
    if b"250-STARTTLS" not in ehlo:
        fail("no STARTTLS in %r" % ehlo)
    return sock, r


def upgrade(sock, r, after=b""):
    """STARTTLS (and `after` in the same segment), the 220, the handshake: the TLS socket and its reader."""
    sock.sendall(b"STARTTLS\r\n" + after)
    ready = r.reply()
    if ready != [b"220 2.0.0 Ready to start TLS"]:
        fail("STARTTLS got %r" % ready)
    if r.buf:
        fail("bytes after the 220 in plaintext: %r" % r.buf)
    # A plaintext reply to `after`, sent before the handshake, would break it here ("wrong version number").
    try:
        tls = context().wrap_socket(sock, server_hostname="127.0.0.1")
    except ssl.SSLError as e:
        fail("handshake after STARTTLS: %s" % e)
    return tls, lines(tls)


def inject():
    # CVE-2011-0411 (Postfix and others, 2011) and the 2021 "NO STARTTLS" findings: commands sent in plaintext
    # right behind STARTTLS must not be executed inside the TLS session.
    injected = ARGS[0].encode().decode("unicode_escape").encode("latin-1")
    sock, r = plain_smtp()
    tls, t = upgrade(sock, r, injected)
    # The first reply over TLS is HELP's: an answer to any injected command would come before it.
    tls.sendall(b"HELP\r\n")
    first = t.reply()
    if not first[-1].startswith(b"214 "):
        fail("the first reply over TLS is %r, not HELP's: an injected command was answered" % first)
    # Nor did any injected command leave state behind: a transaction starts clean, from a new EHLO.
    tls.sendall(b"EHLO client\r\n")
    t.reply()
    tls.sendall(b"MAIL FROM:<a@x>\r\n")
    mail = t.reply()
    if mail != [b"250 OK"]:
        fail("MAIL over TLS got %r (state left by an injected command?)" % mail)
    tls.sendall(b"RCPT TO:<b@y>\r\nDATA\r\n")
    rcpt, data = t.reply(), t.reply()
    if rcpt != [b"250 OK"] or not data[0].startswith(b"354"):
        fail("RCPT/DATA got %r %r" % (rcpt, data))
    tls.sendall(b"Subject: t\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    stored, bye = t.reply(), t.reply()
    if not stored[0].startswith(b"250 ") or bye != [b"221 Bye"]:
        fail("after DATA got %r %r" % (stored, bye))
    tls.close()


def mail_before_ehlo():
    sock, r = plain_smtp()
    tls, t = upgrade(sock, r)
    tls.sendall(b"MAIL FROM:<a@x>\r\n")
    got = t.reply()
    if not got[0].startswith(b"503 "):
        fail("MAIL before a new EHLO got %r" % got)
    tls.sendall(b"EHLO again\r\n")
    ehlo = t.reply()
    if not ehlo[-1].startswith(b"250 ") or b"250-STARTTLS" in ehlo:
        fail("EHLO over TLS got %r" % ehlo)
    tls.sendall(b"STARTTLS\r\n")
    again = t.reply()
    if not again[0].startswith(b"503 "):
        fail("a second STARTTLS got %r" % again)
    tls.close()


def require_tls():
    sock, r = plain_smtp()
    sock.sendall(b"MAIL FROM:<a@x>\r\n")
    got = r.reply()
    if got != [b"530 5.7.0 Must issue a STARTTLS command first"]:
        fail("MAIL before STARTTLS got %r" % got)
    tls, t = upgrade(sock, r)
    tls.sendall(b"EHLO client\r\nMAIL FROM:<a@x>\r\n")
    t.reply()
    got = t.reply()
    if got != [b"250 OK"]:
        fail("MAIL over TLS got %r" % got)
    tls.close()


scenarios = {"echo": echo, "chat": chat, "smtplib": smtplib_scenario, "inject": inject,
             "mail-before-ehlo": mail_before_ehlo, "require-tls": require_tls}
try:
    scenarios[SCENARIO]()
except (OSError, smtplib.SMTPException) as e:
    fail("%s: %s" % (type(e).__name__, e))
print("ok", SCENARIO, flush=True)
