"""The same measurement as idle_memory.cpp with Python's asyncore/asynchat (baseline)."""
import os
import socket
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
try:
    import asynchat
    import asyncore
except ImportError:
    print("python_idle_memory: this python3 has no asynchat module", file=sys.stderr)
    sys.exit(3)


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Idle(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map)
        self.set_terminator(b"\r\n")

    def collect_incoming_data(self, data):
        pass

    def found_terminator(self):
        pass


class Acceptor(asyncore.dispatcher):
    def __init__(self, map):
        asyncore.dispatcher.__init__(self, map=map)
        self.create_socket()
        self.bind(("127.0.0.1", 0))
        self.listen(4096)
        self.accepted = 0

    def handle_accepted(self, sock, addr):
        Idle(sock, self._map)
        self.accepted += 1


def main():
    n = int(sys.argv[sys.argv.index("--connections") + 1]) if "--connections" in sys.argv else 10000
    m = {}
    server = Acceptor(m)
    where = server.socket.getsockname()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        held = [socket.create_connection(where) for _ in range(n)]
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    asyncore.loop(timeout=0, use_poll=True, map=m, count=1)
    rss0 = rss()
    while server.accepted < n:
        asyncore.loop(timeout=0.1, use_poll=True, map=m, count=1)
    rss1 = rss()
    os.close(w)
    os.waitpid(pid, 0)
    print("python,poll,%d,%.0f," % (n, (rss1 - rss0) / n))


if __name__ == "__main__":
    main()
