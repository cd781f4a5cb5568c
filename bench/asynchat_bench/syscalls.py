"""System calls per message of `asynchat serve echo` on each backend: the server on --server-cpu, bench_loadgen on
--client-cpu, and a counter attached to the server for the load generator's whole run (its warm-up is 0, so the
messages it reports are all the messages of the window). Prints, and writes as CSV, one row per backend and case:
the messages, the system calls of the loop (everything but the per-connection set-up: accept4, fcntl,
getpeername, setsockopt, getsockname, close) per message, and each system call's count.

--tool strace is `strace -c -f -p PID` (what docs/benchmarks.md quotes; it slows the server several times over,
which changes how many messages a pass serves, so compare backends under the same tool), --tool perf counts the
syscalls:sys_enter_* tracepoints (`perf stat -p PID`), which costs the server next to nothing. A case is
CONNECTIONSxSIZExDEPTH. Default out: bench/results/syscalls_<tool>.csv.
"""
import argparse
import os
import re
import signal
import subprocess
import tempfile
import time

from . import common, echo

SETUP = {"accept4", "accept", "fcntl", "getpeername", "getsockname", "setsockopt", "getsockopt", "close"}
COLUMNS = ["tool", "backend", "connections", "size", "depth", "messages", "loop_syscalls", "loop_syscalls_per_msg",
           "counts"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", choices=("strace", "perf"), default="strace")
    ap.add_argument("--backends", default="epoll,io_uring")
    ap.add_argument("--cases", default="100x64x16,1000x64x1,10x64x1")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--out")
    common.add_build_options(ap, no_build=False, asynchat=False, loadgen=False)
    common.add_pin_options(ap, no_pin=False)
    a = ap.parse_args(argv)
    a.out = a.out or os.path.join(common.RESULTS, "syscalls_%s.csv" % a.tool)
    return a


def counts_from(tool, path):
    counts = {}
    with open(path) as f:
        for line in f:
            if tool == "strace":
                # % time, seconds, usecs/call, calls, [errors,] syscall
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                if m and m.group(2) != "total":
                    counts[m.group(2)] = int(m.group(1))
            else:
                p = line.strip().split(",")
                if len(p) > 2 and p[2].startswith("syscalls:sys_enter_") and p[0].isdigit() and int(p[0]) > 0:
                    counts[p[2][len("syscalls:sys_enter_"):]] = int(p[0])
    return counts


def one(a, impl, conns, size, depth):
    """One server (an Impl of the echo suite) with the counter attached for one load generator run: (messages,
    the loop's system calls, every system call's count)."""
    if impl.reason:
        raise RuntimeError("%s: %s" % (impl.label, impl.reason))
    server = impl.start("echo", a.pin.server, subprocess.DEVNULL)
    try:
        with tempfile.NamedTemporaryFile(prefix="syscalls-", suffix=".txt") as out:
            pid = str(server.proc.pid)
            if a.tool == "strace":
                tracer = ["strace", "-c", "-f", "-p", pid, "-o", out.name]
            else:
                tracer = ["perf", "stat", "-x,", "-o", out.name, "-e", "syscalls:sys_enter_*", "-p", pid]
            tr = subprocess.Popen(tracer, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached before the first connection
            lg = subprocess.run(a.pin.client + [common.loadgen_path(a), "--port", str(server.port), "--connections",
                                                str(conns), "--size", str(size), "--depth", str(depth), "--warmup",
                                                "0", "--duration", str(a.duration), "--server-pid", pid,
                                                "--setup-timeout", "120"], capture_output=True, text=True)
            tr.send_signal(signal.SIGINT)
            tr.wait()
            counts = counts_from(a.tool, out.name)
    finally:
        server.stop()
    fields = lg.stdout.strip().splitlines()[-1].split(",")
    messages = int(fields[5])
    loop = sum(v for k, v in counts.items() if k not in SETUP)
    return messages, loop, counts


def main(argv=None):
    a = parse_args(argv)
    a.pin = common.Pinning(a.server_cpu, a.client_cpu, prog="bench/run_syscalls")
    impls = echo.ours(common.asynchat_path(a), a.backends.split(","))
    rows = []
    for case in a.cases.split(","):
        conns, size, depth = (int(x) for x in case.split("x"))
        for impl in impls:
            messages, loop, counts = one(a, impl, conns, size, depth)
            detail = " ".join("%s=%d" % kv for kv in sorted(counts.items(), key=lambda kv: -kv[1]))
            rows.append([a.tool, impl.backend, conns, size, depth, messages, loop, "%.3f" % (loop / messages), detail])
            print("%-8s %5d conns %5d B depth %2d: %8d messages, %.3f loop syscalls/message (%s)" % (
                impl.backend, conns, size, depth, messages, loop / messages, detail), flush=True)
    with common.CsvFile(a.out, COLUMNS) as out:
        for row in rows:
            out.row(row)
    print("wrote", a.out)
    return 0
