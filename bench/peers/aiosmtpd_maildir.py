"""The aiosmtpd peer of bench/run_smtp: aiosmtpd's SMTP server with a handler that writes each message into a
Maildir exactly as `asynchat serve smtp` does (Return-Path and X-Envelope-To lines, then the data; tmp/ file
written, fsync'd, renamed into new/, new/ fsync'd) before it answers 250. The blocking file work runs in the event
loop's default thread pool (run_in_executor) with --executor, the idiomatic asyncio way of keeping the loop
responsive; without it the handler does the file work itself, as most aiosmtpd handlers are written, and the loop
waits for each fsync.

usage: aiosmtpd_maildir.py --port P --maildir DIR [--executor]
prints "listening on 127.0.0.1:PORT"; SIGTERM stops it
"""
import argparse
import asyncio
import itertools
import os
import signal
import socket
import time

from aiosmtpd.smtp import SMTP


class MaildirHandler:
    def __init__(self, path, executor):
        self.executor = executor
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self.tmp = os.path.join(path, "tmp")
        self.new = os.path.join(path, "new")
        self.new_fd = os.open(self.new, os.O_RDONLY | os.O_DIRECTORY)
        self.seq = itertools.count()
        self.host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

    def write(self, data):
        name = "%d.%d_%d.%s" % (time.time(), os.getpid(), next(self.seq), self.host)
        tmp = os.path.join(self.tmp, name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.new, name))
        os.fsync(self.new_fd)
        return name

    async def handle_DATA(self, server, session, envelope):
        head = ("Return-Path: <%s>\r\nX-Envelope-To: %s\r\n" % (
            envelope.mail_from, ", ".join("<%s>" % r for r in envelope.rcpt_tos))).encode()
        if self.executor:
            name = await asyncio.get_running_loop().run_in_executor(None, self.write,
                                                                     head + envelope.original_content)
        else:
            name = self.write(head + envelope.original_content)
        return "250 OK: queued as " + name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--executor", action="store_true")
    args = ap.parse_args()
    handler = MaildirHandler(args.maildir, args.executor)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="localhost", data_size_limit=33554432), "127.0.0.1", args.port))
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.run_forever()


if __name__ == "__main__":
    main()
