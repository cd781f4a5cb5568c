"""The same measurement as framing.cpp through Python's own asynchat (the oracle and the baseline).

Feeds N messages of SIZE bytes ending in b"\r\n" to an async_chat whose recv is replaced by a slicer of the
stream, one handle_read per SEGMENT bytes. Prints the same CSV line as framing.cpp, with impl=python.
"""
import sys
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
try:
    import asynchat
except ImportError:
    print("python_framing: this python3 has no asynchat module", file=sys.stderr)
    sys.exit(3)


def make_stream(messages, size):
    body = bytearray(b"x" * (size - 2))
    out = bytearray()
    for i in range(messages):
        body[i % len(body)] = ord("a") + i % 26
        out += body + b"\r\n"
    return bytes(out)


class Sink(asynchat.async_chat):
    def __init__(self, stream, segment):
        asynchat.async_chat.__init__(self)  # no socket: recv is ours
        self.stream, self.segment, self.at = stream, segment, 0
        self.message, self.found, self.nbytes = [], 0, 0
        self.set_terminator(b"\r\n")
        self.ac_in_buffer_size = max(segment, 1)

    def recv(self, n):
        chunk = self.stream[self.at:self.at + min(n, self.segment)]
        self.at += len(chunk)
        return chunk

    def collect_incoming_data(self, data):
        self.message.append(data)

    def found_terminator(self):
        self.found += 1
        self.nbytes += len(b"".join(self.message))
        self.message = []


def main():
    args = sys.argv[1:]
    messages, size, segments = 100_000, 64, []
    for opt, value in zip(args[::2], args[1::2]):
        if opt == "--messages":
            messages = int(value)
        elif opt == "--size":
            size = int(value)
        elif opt == "--segment":
            segments.append(int(value))
        else:
            print("python_framing: unknown option " + opt, file=sys.stderr)
            return 2
    stream = make_stream(messages, size)
    for segment in segments or [1, 64, 65536]:
        sink = Sink(stream, segment)
        start = time.perf_counter()
        while sink.at < len(stream):
            sink.handle_read()
        seconds = time.perf_counter() - start
        if sink.found != messages or sink.nbytes != messages * (size - 2):
            print("python_framing: wrong result", file=sys.stderr)
            return 1
        print("python,%d,%d,%d,%.6f,%.1f,%.1f" % (segment, messages, size, seconds, seconds * 1e9 / messages,
                                                  len(stream) / seconds / 1e6), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
