#!/usr/bin/env python3
"""The Asio backends against epoll, and builds against each other: interleaved runs of `asynchat serve echo
--terminator '\\n'` under bench_loadgen, server pinned to CPU 0 and load generator to CPU 1. In every round each
(build, backend) pair runs once, in turn; every figure is compared with the reference (the first build's epoll
backend) *within its round*, and the medians of those per-round ratios are reported, so that a slow drift of a
shared machine falls on all of them alike.

    python3 bench/asio_designs.py [--rounds 5] [--impl NAME=PATH ...] [--backends epoll,asio,asio-readiness]
                                  [--cases 1x64,10x64,100x64,1000x64,1x16384,...,100x64d16] [--raw FILE] > out.csv

--impl may be given several times (e.g. before=/tmp/asio-before/apps/asynchat/asynchat after=build/release/...):
the A/B of a change; NAME=PATH@B1+B2 measures only those backends of that build (say, epoll only once). Default: build/release's asynchat as "asynchat-cpp". A case is CONNECTIONSxSIZE, with dD for
D messages in flight per connection (default 1: ping-pong). A run during which the rest of the machine used more
than --max-other-cpu percent of a core (the load generator's other_cpu_pct) is run again, up to --retries times.
Output CSV: one row per case and (build, backend): medians of msgs/s and server CPU per message, and the medians
of the per-round ratios to the reference with their spread (max - min of the ratios).
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys

DEFAULT_CASES = ("1x64,10x64,100x64,1000x64,1x16384,10x16384,100x16384,1000x16384,100x64d16")


def parse_case(text):
    conns, rest = text.split("x", 1)
    size, _, depth = rest.partition("d")
    return int(conns), int(size), int(depth or 1)


def run(asynchat, loadgen, backend, conns, size, depth, a):
    srv = subprocess.Popen(["taskset", "-c", a.server_cpu, asynchat, "serve", "echo", "--terminator", r"\n",
                            "--backend", backend], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline().strip().rsplit(":", 1)[1])
        out = subprocess.run(["taskset", "-c", a.client_cpu, loadgen, "--port", str(port), "--connections",
                              str(conns), "--size", str(size), "--depth", str(depth), "--warmup", str(a.warmup),
                              "--duration", str(a.duration), "--server-pid", str(srv.pid)],
                             capture_output=True, text=True, timeout=120).stdout.strip()
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait()
    header = ("connections,idle,size,depth,duration_s,messages,msgs_per_s,mb_per_s,p50_us,p99_us,"
              "server_cpu_us_per_msg,client_cpu_us_per_msg,other_cpu_pct,steal_pct,errors").split(",")
    return dict(zip(header, out.split(",")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--impl", action="append", default=[], metavar="NAME=PATH[@BACKEND+...]")
    ap.add_argument("--backends", default="epoll,asio,asio-readiness")
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--loadgen", default="build/release/bench/bench_loadgen")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--max-other-cpu", type=float, default=15.0)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--raw", help="also write every run here")
    a = ap.parse_args()
    impls = [tuple(i.split("=", 1)) for i in a.impl] or [("asynchat-cpp", "build/release/apps/asynchat/asynchat")]
    backends = [b for b in a.backends.split(",") if b]
    pairs = []
    for name, path in impls:
        path, _, only = path.partition("@")
        pairs += [(name, path, b) for b in (only.split("+") if only else backends)]
    reference = pairs[0]
    raw = open(a.raw, "w") if a.raw else None
    if raw:
        print("impl,backend,round,attempts,connections,size,depth,msgs_per_s,server_cpu_us_per_msg,other_cpu_pct,"
              "errors", file=raw, flush=True)
    print("connections,size,depth,impl,backend,msgs_per_s_median,server_cpu_us_per_msg_median,msgs_ratio_median,"
          "msgs_ratio_spread,cpu_ratio_median,cpu_ratio_spread,rounds,reference", flush=True)
    for case in a.cases.split(","):
        conns, size, depth = parse_case(case)
        results = {p: [] for p in pairs}
        for r in range(a.rounds):
            # Alternate the order from round to round as well: no pair always runs right after another.
            order = pairs if r % 2 == 0 else list(reversed(pairs))
            for p in order:
                name, path, backend = p
                for attempt in range(a.retries + 1):
                    row = run(path, a.loadgen, backend, conns, size, depth, a)
                    if float(row.get("other_cpu_pct") or 0) <= a.max_other_cpu:
                        break
                results[p].append(row)
                if raw:
                    print(",".join([name, backend, str(r + 1), str(attempt + 1), str(conns), str(size), str(depth),
                                    row["msgs_per_s"], row["server_cpu_us_per_msg"], row["other_cpu_pct"],
                                    row["errors"]]), file=raw, flush=True)
                print("  %s %s/%s round %d: %s msgs/s, %s us/msg" % (case, name, backend, r + 1, row["msgs_per_s"],
                                                                    row["server_cpu_us_per_msg"]),
                      file=sys.stderr, flush=True)
        ref = results[reference]
        for p in pairs:
            rows = results[p]
            msgs = [float(x["msgs_per_s"]) for x in rows]
            cpu = [float(x["server_cpu_us_per_msg"]) for x in rows]
            mr = [m / float(q["msgs_per_s"]) for m, q in zip(msgs, ref)]
            cr = [c / float(q["server_cpu_us_per_msg"]) for c, q in zip(cpu, ref)]
            print("%d,%d,%d,%s,%s,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%s/%s" % (
                conns, size, depth, p[0], p[2], statistics.median(msgs), statistics.median(cpu),
                statistics.median(mr), max(mr) - min(mr), statistics.median(cr), max(cr) - min(cr), a.rounds,
                reference[0], reference[2]), flush=True)


if __name__ == "__main__":
    main()
