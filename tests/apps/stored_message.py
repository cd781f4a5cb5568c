"""A message as `asynchat serve smtp` stores it: Return-Path, X-Envelope-To, the Received line (RFC 5321 4.4),
then the data. The Python clients of the tests compare the rest byte for byte and check the Received line here."""
import re

RECEIVED = re.compile(
    rb"Received: from (?P<helo>[A-Za-z0-9.\-\[\]:_]+) \(\[(?P<client>[^\]]+)\]\) by (?P<by>\S+) "
    rb"with (?P<with>SMTP|ESMTP|ESMTPS) id (?P<id>\S+)(?: for <(?P<rcpt>[^>]*)>)?; "
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z][a-z] \d{4} \d\d:\d\d:\d\d \+0000\r\n")


def without_received(stored, name, client="127.0.0.1", with_=None):
    """stored minus its Received line; raises ValueError when the line is missing, malformed, or does not name
    the file `name`, the `client` address, or (when given) the protocol `with_`."""
    at = stored.find(b"\r\nReceived: ")
    if at < 0:
        raise ValueError("no Received line: %r" % stored[:300])
    match = RECEIVED.match(stored, at + 2)
    if not match:
        raise ValueError("malformed Received line: %r" % stored[at + 2:at + 200])
    if match["id"].decode() != name:
        raise ValueError("Received id %r, the file is %r" % (match["id"], name))
    if match["client"].decode() != client:
        raise ValueError("Received names client %r, expected %r" % (match["client"], client))
    if with_ is not None and match["with"].decode() != with_:
        raise ValueError("Received says with %r, expected %r" % (match["with"], with_))
    return stored[:at + 2] + stored[match.end():]
