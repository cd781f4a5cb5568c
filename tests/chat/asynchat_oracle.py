# Runs framing cases through CPython's own asynchat.async_chat.handle_read, with no socket: recv is replaced by
# a function returning the next chunk. Used by test_framer_python_oracle.cpp, which writes the cases to stdin and
# compares what this prints with its own framer's events.
#
# Input, per case:            Output, per case:
#   case                        D <hex>     bytes collected (consecutive collect calls merged)
#   init <term>                 F           found_terminator
#   plan <action>...            P <hex>     ac_in_buffer after the last chunk
#   between <i> <term>          T <term>    get_terminator() after the last chunk
#   chunk <hex>                 end
#   end
# <term> is N (None), C<n> (count) or D<hex> (bytes); <action> is a <term> to set, K (keep) or R (discard_buffers).
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)
import asynchat  # noqa: E402


def parse_term(tok):
    if tok == "N":
        return None
    if tok[0] == "C":
        return int(tok[1:])
    if tok[0] == "D":
        return bytes.fromhex(tok[1:])
    raise ValueError(tok)


def format_term(t):
    if t is None:
        return "N"
    if isinstance(t, int):
        return "C%d" % t
    return "D" + bytes(t).hex()


class Chat(asynchat.async_chat):
    def __init__(self, plan):
        super().__init__()
        self.plan = plan
        self.found = 0
        self.events = []

    def collect_incoming_data(self, data):
        if self.events and self.events[-1][0] == "D":
            self.events[-1][1] += data
        else:
            self.events.append(["D", bytearray(data)])

    def found_terminator(self):
        self.events.append(["F"])
        if self.plan:
            a = self.plan[self.found % len(self.plan)]
            if a == "R":
                self.discard_buffers()
            elif a != "K":
                self.set_terminator(parse_term(a))
        self.found += 1


def run(init, plan, between, chunks, out):
    chat = Chat(plan)
    chat.set_terminator(init)
    for i, chunk in enumerate(chunks):
        for t in between.get(i, []):
            chat.set_terminator(t)
        chat.recv = lambda n, chunk=chunk: chunk
        chat.handle_read()
    for e in chat.events:
        out.append("D " + bytes(e[1]).hex() if e[0] == "D" else "F")
    out.append("P " + chat.ac_in_buffer.hex())
    out.append("T " + format_term(chat.get_terminator()))
    out.append("end")


def main():
    out = []
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        key, args = words[0], words[1:]
        if key == "case":
            init, plan, between, chunks = None, [], {}, []
        elif key == "init":
            init = parse_term(args[0])
        elif key == "plan":
            plan = args
        elif key == "between":
            between.setdefault(int(args[0]), []).append(parse_term(args[1]))
        elif key == "chunk":
            chunks.append(bytes.fromhex(args[0] if args else ""))
        elif key == "end":
            run(init, plan, between, chunks, out)
    sys.stdout.write("\n".join(out) + "\n")


main()
