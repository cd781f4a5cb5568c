"""The benchmarks of asynchat-cpp as a package: bench/run and the other bench/run_* scripts are its entry points.

    common.py    what every suite shares: binaries and the build, the common options, pinning, a server process,
                 CPU time from /proc, the quiet-machine checks, CSV files, the Impl shape, the matrix and the
                 A/B session (--ab, --from-raw)
    echo.py      bench/run [echo]   `asynchat serve echo` and the echo peers under bench_loadgen
    http.py      bench/run http     `asynchat serve http`, nginx and Python's http.server under wrk
    tls.py       bench/run tls      the same over TLS 1.3, and the echo over TLS
    smtp.py      bench/run_smtp     durable Maildir delivery beside aiosmtpd and the bare disk
    syscalls.py  bench/run_syscalls system calls per message by backend (strace or perf)

A suite of bench/run is a common.Suite (its CSV columns, cases, peers, defaults) and a run(a) that builds its
implementations — each a common.Impl: name, how to start it, why it cannot run — and hands them to
common.run_suite, which runs the matrix or the A/B session and writes the CSVs.
"""
import argparse
import os
import sys

from . import common, echo, http, tls

SUITES = {s.name: s for s in (echo.SUITE, http.SUITE, tls.SUITE)}

DESCRIPTION = """The benchmarks: asynchat-cpp's `asynchat serve echo` (the default suite) or `asynchat serve http` (the `http`
suite) on every backend it has, and the servers a user would pick instead, under the same load. Writes one CSV row
per case (bench/results/echo.csv, bench/results/http.csv)."""


def parse_args(argv=None):
    """bench/run's command line: one parser for every suite (the suite is its positional argument), the options
    of each suite, then the A/B session's, the build's, pinning and the quiet-machine checks."""
    ap = argparse.ArgumentParser(description=DESCRIPTION)
    ap.add_argument("suite", nargs="?", choices=tuple(SUITES), default="echo",
                    help="which benchmark: echo (the default), http or tls")
    ap.add_argument("--quick", action="store_true",
                    help="fewer cases, 1 run each, short durations: the whole matrix in under 2 minutes")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 2, quick 0.5; http: 5, quick "
                                                   "1, whole seconds as wrk takes them)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run (default 0.5, quick 0.2; http: 1, quick 0)")
    ap.add_argument("--runs", type=int, help="runs per case, median kept (default 3, quick 1)")
    ap.add_argument("--out", help="the CSV to write (default bench/results/echo.csv; with --quick, echo_quick.csv, "
                                  "so that a quick look never overwrites the full matrix; http: http.csv, "
                                  "http_quick.csv)")
    ap.add_argument("--raw", help="also write every run's load generator line here (impl, backend, scenario, run, "
                                  "then bench_loadgen's columns; http: then the CSV's measured columns)")
    ap.add_argument("--backends", help="comma-separated asynchat-cpp backends (default: all the binary lists)")
    ap.add_argument("--peers", help="comma-separated peers (default: %s; http: %s)" % (
        ",".join(echo.PEERS), ",".join(http.PEERS)))
    ap.add_argument("--no-peers", action="store_true", help="measure asynchat-cpp only")
    ap.add_argument("--scenarios", help="comma-separated echo scenarios (default: pingpong,pipelined,growth; "
                                        "--ab: pingpong,pipelined)")
    ap.add_argument("--connections", help="comma-separated ping-pong connection counts (default 1,10,100,1000, "
                                          "quick 1,100; --ab: 10,100,1000; http: wrk's -c, default 64)")
    ap.add_argument("--sizes", help="comma-separated ping-pong message sizes (default 64,16384; http: file sizes, "
                                    "default 1024,1048576)")
    http.add_options(ap)
    tls.add_options(ap)
    common.add_variant_option(ap)
    common.add_ab_options(ap)
    common.add_build_options(ap)
    common.add_pin_options(ap)
    common.add_quiet_options(ap)
    a = ap.parse_args(argv)
    suite = SUITES[a.suite]
    common.finish_args(ap, a, suite)
    return a, suite


def main(argv=None):
    """bench/run: the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    # `bench/run http --workers 1,2 [...]`: the workers comparison (ours at N workers beside nginx at N worker
    # processes) is its own script, bench/run_workers, which takes the rest of the options.
    if argv[:1] == ["http"] and any(x == "--workers" or x.startswith("--workers=") for x in argv[1:]):
        script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_workers")
        os.execv(sys.executable, [sys.executable, script] + argv[1:])
    a, suite = parse_args(argv)
    common.raise_fd_limit()
    pin = common.Pinning(a.server_cpu, a.client_cpu, not a.no_pin)
    a.no_pin, a.pin = not pin.enabled, pin
    if a.from_raw:
        return common.ab_from_raw(a, suite)
    if not a.no_build:
        common.build(a.build_dir, suite.build_targets, suite.optional_targets)
    return suite.run(a)
