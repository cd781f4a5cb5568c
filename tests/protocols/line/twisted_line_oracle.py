"""Twisted's LineReceiver as an oracle for line_receiver (test_line_twisted_oracle.cpp).

Reads cases from stdin:  "case DELIM_HEX MAX_LENGTH", then "chunk HEX" lines, then "end".
Writes per case one "R HEX" line per entry of LineTester.received (the LineTester of
twisted/protocols/test/test_basic.py: "len N" sets the next raw block's length, an empty line starts it, the block's
end returns to line mode with the rest), "X" for a lineLengthExceeded call, then "end".
"""
import sys

from twisted.protocols import basic


class LineTester(basic.LineReceiver):
    def __init__(self, delimiter, max_length):
        self.delimiter = delimiter
        self.MAX_LENGTH = max_length
        self.received = []
        self.length = 0

    def lineReceived(self, line):
        self.received.append(line)
        if line == b"":
            self.setRawMode()
        elif line[:4] == b"len ":
            self.length = int(line[4:])

    def rawDataReceived(self, data):
        data, rest = data[: self.length], data[self.length :]
        self.length -= len(data)
        self.received[-1] += data
        if self.length == 0:
            self.setLineMode(rest)

    def lineLengthExceeded(self, line):
        self.received.append(None)


def main():
    out = sys.stdout
    proto = None
    for raw in sys.stdin:
        words = raw.split()
        if words[0] == "case":
            proto = LineTester(bytes.fromhex(words[1]), int(words[2]))
        elif words[0] == "chunk":
            proto.dataReceived(bytes.fromhex(words[1]) if len(words) > 1 else b"")
        elif words[0] == "end":
            for r in proto.received:
                out.write("X\n" if r is None else "R " + r.hex() + "\n")
            out.write("end\n")
    out.flush()


if __name__ == "__main__":
    main()
