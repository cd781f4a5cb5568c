"""The line echo with Python's own asyncore/asynchat (CPython <= 3.11), as its documentation teaches it.

    python3 python_asynchat_echo.py [--host 127.0.0.1] [--port 0] [--poll]

select by default, poll with --poll (asyncore.loop(use_poll=True)). Prints "listening on HOST:PORT" first; exits 0
on SIGINT/SIGTERM.
"""
import argparse
import signal
import socket
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
try:
    import asynchat
    import asyncore
except ImportError:
    print("python_asynchat_echo: this python3 has no asynchat module (removed in 3.12)", file=sys.stderr)
    sys.exit(3)


class EchoHandler(asynchat.async_chat):
    def __init__(self, sock):
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(b"\n")
        self.data = []

    def collect_incoming_data(self, data):
        self.data.append(data)

    def found_terminator(self):
        self.push(b"".join(self.data) + b"\n")
        self.data = []


class EchoServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(1024)

    def handle_accept(self):
        # asyncore accepts one connection per readable event, and a pass costs O(all channels): opening 10,000
        # idle connections would take O(n^2) passes. Draining the backlog here only shortens the benchmark's
        # set-up; the measured echo path is asynchat's own.
        for _ in range(256):
            pair = self.accept()
            if pair is None:
                return
            EchoHandler(pair[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--poll", action="store_true")
    args = ap.parse_args()

    def stop(signum, frame):
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = EchoServer(args.host, args.port)
    print("listening on %s:%d" % server.socket.getsockname()[:2], flush=True)
    asyncore.loop(timeout=30.0, use_poll=args.poll)
    return 0


if __name__ == "__main__":
    sys.exit(main())
