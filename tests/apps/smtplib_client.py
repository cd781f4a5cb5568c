"""Python's smtplib against `asynchat serve smtp`: one scenario after another on one server, each message checked
byte for byte in the Maildir the moment its 250 arrives (the server acknowledges only what is already in new/).

usage: smtplib_client.py PORT MAILDIR MAX_SIZE
Prints "ok SCENARIO" per scenario; exits 1 with the reason on the first failure.
"""
import os
import smtplib
import socket
import sys

from stored_message import without_received

PORT, MAILDIR, MAX_SIZE = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
NEW = os.path.join(MAILDIR, "new")
seen = set(os.listdir(NEW))


def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)


def new_files():
    global seen
    now = set(os.listdir(NEW))
    added = sorted(now - seen)
    seen = now
    return added


def expect_stored(mail_from, rcpt_tos, content, name):
    added = new_files()
    if len(added) != 1:
        fail("%s: %d new files in new/, expected 1" % (name, len(added)))
    with open(os.path.join(NEW, added[0]), "rb") as f:
        stored = f.read()
    head = ("Return-Path: <%s>\r\nX-Envelope-To: %s\r\n" % (
        mail_from, ", ".join("<%s>" % r for r in rcpt_tos))).encode()
    try:
        stored = without_received(stored, added[0])
    except ValueError as e:
        fail("%s: %s" % (name, e))
    if stored != head + content:
        fail("%s: stored %r, expected %r" % (name, stored[:300], (head + content)[:300]))
    print("ok", name, flush=True)


def connect():
    s = smtplib.SMTP("127.0.0.1", PORT, timeout=20)
    return s


msg = b"From: a@x\r\nTo: b@y\r\nSubject: plain\r\n\r\nHello.\r\n"

# plain
with connect() as s:
    refused = s.sendmail("a@x", ["b@y"], msg)
    if refused:
        fail("plain: refused %r" % refused)
expect_stored("a@x", ["b@y"], msg, "plain")

# 8-bit, announced with BODY=8BITMIME
eight = "Subject: caf\u00e9\r\n\r\nna\u00efve \u00fcml\u00e4ut\r\n".encode("utf-8") + bytes(range(128, 256)) + b"\r\n"
with connect() as s:
    s.ehlo()
    if not s.has_extn("8bitmime"):
        fail("8bit: no 8BITMIME in EHLO")
    s.sendmail("a@x", ["b@y"], eight, mail_options=["BODY=8BITMIME"])
expect_stored("a@x", ["b@y"], eight, "8bit")

# lines beginning with dots (smtplib stuffs them, the server must unstuff them)
dots = b"Subject: dots\r\n\r\n.one\r\n..two\r\n.\r\n...\r\nend.\r\n"
with connect() as s:
    s.sendmail("a@x", ["b@y"], dots)
expect_stored("a@x", ["b@y"], dots, "dot-leading lines")

# several recipients
rcpts = ["b@y", "c@z", "d@w"]
with connect() as s:
    s.sendmail("a@x", rcpts, msg)
expect_stored("a@x", rcpts, msg, "several recipients")

# the null sender
with connect() as s:
    s.sendmail("", ["postmaster@y"], msg)
expect_stored("", ["postmaster@y"], msg, "null sender")

# RSET in the middle of a transaction: the first envelope is forgotten
with connect() as s:
    s.ehlo()
    code, _ = s.mail("first@x")
    if code != 250:
        fail("rset: MAIL %d" % code)
    s.rcpt("forgotten@y")
    code, _ = s.rset()
    if code != 250:
        fail("rset: RSET %d" % code)
    s.sendmail("second@x", ["kept@y"], msg)
expect_stored("second@x", ["kept@y"], msg, "RSET mid-transaction")

# several messages on one connection
with connect() as s:
    for i in range(3):
        body = b"Subject: %d\r\n\r\nmessage %d\r\n" % (i, i)
        s.sendmail("a@x", ["b@y"], body)
        expect_stored("a@x", ["b@y"], body, "message %d of 3 on one connection" % (i + 1))

# SIZE: smtplib announces the size itself; one over the limit is refused at MAIL (552)
big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (MAX_SIZE // 1000 + 2)
with connect() as s:
    s.ehlo()
    if int(s.esmtp_features.get("size", "0")) != MAX_SIZE:
        fail("SIZE: EHLO says %r" % s.esmtp_features.get("size"))
    try:
        s.sendmail("a@x", ["b@y"], big)
        fail("SIZE: a message over the limit was accepted")
    except smtplib.SMTPSenderRefused as e:
        if e.smtp_code != 552:
            fail("SIZE: refused with %d" % e.smtp_code)
    # ...and without SIZE=, by the bytes received: read to the end, 552, nothing stored, the connection goes on
    s.mail("a@x")
    s.rcpt("b@y")
    code, _ = s.data(big)   # data() raises only for the 354; the final reply is returned
    if code != 552:
        fail("SIZE: an oversized body got %d" % code)
    if new_files():
        fail("SIZE: something was stored")
    code, _ = s.noop()
    if code != 250:
        fail("SIZE: NOOP after 552 gave %d" % code)
    s.sendmail("a@x", ["b@y"], msg)
expect_stored("a@x", ["b@y"], msg, "SIZE")

# pipelining (RFC 2920): a whole session in one write, the body before the 354 could have arrived
body = b"Subject: piped\r\n\r\n..dot\r\nbody\r\n"
session = (b"EHLO piper\r\nMAIL FROM:<p@x>\r\nRCPT TO:<q@y>\r\nRCPT TO:<r@z>\r\nDATA\r\n" + body +
           b".\r\nNOOP\r\nQUIT\r\n")
with socket.create_connection(("127.0.0.1", PORT), timeout=20) as sock:
    sock.sendall(session)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
codes = [line[:3] for line in data.split(b"\r\n") if line and line[3:4] != b"-"]
if codes != [b"220", b"250", b"250", b"250", b"250", b"354", b"250", b"250", b"221"]:
    fail("pipelining: replies %r" % data)
expect_stored("p@x", ["q@y", "r@z"], b"Subject: piped\r\n\r\n.dot\r\nbody\r\n", "pipelining")

print("ALL OK", flush=True)
