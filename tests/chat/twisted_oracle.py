# Runs framing cases through Twisted's own length-prefixed receivers (NetstringReceiver, Int8/Int16/Int32
# StringReceiver) over a StringTransport. Used by test_framing_twisted_oracle.cpp, which writes the cases to stdin
# and compares what this prints with the messages and errors of asynchat's netstring and length_prefixed rules.
#
# Input, per case:                Output, per case:
#   case <proto> <max_length>       M <hex>           a string received (stringReceived)
#   chunk <hex>                     E <kind> <chunk>  the connection was closed while chunk <chunk> (0-based)
#   end                                               was received; kind: too_long or framing
#                                   end
# <proto> is netstring, int8, int16 or int32; <max_length> is the receiver's MAX_LENGTH.
import sys

from twisted.internet.testing import StringTransport
from twisted.protocols import basic

BASES = {
    "netstring": basic.NetstringReceiver,
    "int8": basic.Int8StringReceiver,
    "int16": basic.Int16StringReceiver,
    "int32": basic.Int32StringReceiver,
}


def receiver(proto, max_length):
    base = BASES[proto]

    class Receiver(base):
        MAX_LENGTH = max_length

        def connectionMade(self):
            self.received = []
            self.error = None

        def stringReceived(self, string):
            self.received.append(string)

        def lengthLimitExceeded(self, length):
            self.error = "too_long"
            base.lengthLimitExceeded(self, length)

        def _consumeData(self):
            # NetstringReceiver only: its one exception type says which error it was only in its message.
            try:
                return base._consumeData(self)
            except basic.NetstringParseError as e:
                self.error = "too_long" if "longer than the maximum" in str(e) else "framing"
                raise

    return Receiver()


def run(proto, max_length, chunks, out):
    r = receiver(proto, max_length)
    t = StringTransport()
    r.makeConnection(t)
    for i, chunk in enumerate(chunks):
        before = len(r.received)
        r.dataReceived(chunk)
        for s in r.received[before:]:
            out.append("M " + s.hex())
        if t.disconnecting:
            out.append("E %s %d" % (r.error or "unknown", i))
            break
    out.append("end")


def main():
    out = []
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "case":
            proto, max_length, chunks = words[1], int(words[2]), []
        elif words[0] == "chunk":
            chunks.append(bytes.fromhex(words[1] if len(words) > 1 else ""))
        elif words[0] == "end":
            run(proto, max_length, chunks, out)
    sys.stdout.write("\n".join(out) + "\n")


main()
