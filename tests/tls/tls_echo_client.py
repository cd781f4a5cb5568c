#!/usr/bin/env python3
"""A TLS client for tests/tls (test_sockets.cpp), with Python's own ssl module as the independent TLS stack.

    tls_echo_client.py HOST PORT CAFILE MODE SIZE SEED

Connects, verifies the server's certificate against CAFILE for "localhost", sends SIZE random bytes (the last a newline: the server echoes lines) cut into
random pieces (from 1 byte to 32 KiB, one SSL record or several each) while reading the echo, and checks that
the echo is exactly what was sent. Then, by MODE:
    close_notify  unwrap(): sends close_notify and waits for the server's, then expects EOF
    abrupt        closes the TCP connection without close_notify (SO_LINGER 0: a reset)
Prints one line, "OK ..." on success (exit 0) or what went wrong (exit 1). Exit 3 when ssl cannot be imported,
so that the test can skip.
"""
import random
import select
import socket
import struct
import sys
import time

try:
    import ssl
except ImportError:
    print("no ssl module")
    sys.exit(3)

DEADLINE = 120.0  # seconds for the whole exchange: a hang guard, far beyond a healthy run under sanitizers


def fail(why):
    print("FAIL " + why)
    sys.exit(1)


def main():
    host, port, cafile, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    size, seed = int(sys.argv[5]), int(sys.argv[6])
    rng = random.Random(seed)
    # The server echoes lines: the last byte ends the last one.
    payload = rng.randbytes(size - 1) + b"\n"

    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection((host, port), timeout=30)
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    tls.setblocking(False)

    deadline = time.monotonic() + DEADLINE
    received = bytearray()
    sent = 0
    chunk = None  # a piece handed to send() and not yet fully taken: retried as it is (OpenSSL's rule)
    while len(received) < size:
        if time.monotonic() > deadline:
            fail("timed out with %d of %d bytes sent, %d received" % (sent, size, len(received)))
        want_write = sent < size
        readable, writable, _ = select.select([tls], [tls] if want_write else [], [], 5)
        if readable or tls.pending():
            try:
                while True:
                    data = tls.recv(65536)
                    if not data:
                        fail("EOF after %d of %d bytes" % (len(received), size))
                    received.extend(data)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if writable and want_write:
            if chunk is None:
                n = rng.randint(1, 64) if rng.random() < 0.5 else rng.randint(1, 32768)
                chunk = payload[sent:sent + n]
            try:
                taken = tls.send(chunk)
                sent += taken
                chunk = chunk[taken:] or None
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
    if bytes(received) != payload:
        first = next(i for i in range(min(len(received), size)) if received[i] != payload[i])
        fail("echo differs from byte %d" % first)

    tls.setblocking(True)
    tls.settimeout(30)
    if mode == "close_notify":
        # Our close_notify, then the server's in answer: unwrap() returns only once it has arrived.
        plain = tls.unwrap()
        rest = plain.recv(1)
        if rest:
            fail("bytes after the server's close_notify")
        plain.close()
        print("OK close_notify %d" % size)
    elif mode == "abrupt":
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
        print("OK abrupt %d" % size)
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    try:
        main()
    except (OSError, ssl.SSLError) as e:
        fail(repr(e))
