"""The SMTP benchmark: durable Maildir delivery (every message written, fsync'd, renamed into new/, new/ fsync'd
before its 250) by `asynchat serve smtp` (epoll) beside aiosmtpd with a handler doing the same file work, the disk's
own limit for that work without SMTP (bench_maildir_writer), and how responsive the server's loop stays while it
delivers (the p99 of a NOOP-pinging client, idle and beside 16 delivering clients). Writes bench/results/smtp.csv.

Each case runs --runs times, in rounds of every case, and keeps the median by messages/s (msgs_min and msgs_max
give the range: on a shared machine the disk's speed varies by several times from one second to the next). The
server (or bare writer) is pinned to --server-cpu, the load generator to --client-cpu. server_cpu_us_per_msg is the
server process's user+system CPU (delivery threads included; for the bare writer, its threads) over the run divided
by the messages stored over the run; loop_cpu_us_per_msg counts the main thread only (the event loop; for aiosmtpd,
the asyncio loop). The pinger runs under SCHED_FIFO (chrt) when it can, so that it measures the server's delay, not
its own wait for the client core the 16 load threads share.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from . import common
from .common import Impl, Launch

COLUMNS = ["impl", "backend", "scenario", "clients", "size", "msgs_per_s", "p50_us", "p99_us",
           "server_cpu_us_per_msg", "loop_cpu_us_per_msg", "errors", "runs", "msgs_min", "msgs_max", "note"]
# The peer runs on the system's Python, where Debian's python3-aiosmtpd installs it.
SYSTEM_PYTHON = "/usr/bin/python3"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=3.0, help="measured seconds per run (default %(default)s)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs per case, median kept (default %(default)s)")
    ap.add_argument("--clients", default="1,16", help="concurrent delivering clients (default %(default)s)")
    ap.add_argument("--size", type=int, default=10240, help="message bytes (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(common.RESULTS, "smtp.csv"),
                    help="the CSV to write (default bench/results/smtp.csv)")
    common.add_build_options(ap, asynchat=False, loadgen=False)
    common.add_pin_options(ap, no_pin=False)
    ap.add_argument("--maildir-root", default=None,
                    help="where the Maildirs go (default: a temp dir; the filesystem is what is measured)")
    return ap.parse_args(argv)


def implementations(args):
    """Our server, the same with its delivery threads on the client's core (asynchat-split: the loop alone on the
    server's), aiosmtpd with the handler's file work on the loop or in an executor, and the bare writer (no SMTP:
    bench_maildir_writer, run rather than served). Each server takes --maildir DIR when it starts."""
    asynchat = common.asynchat_path(args)
    smtp = [asynchat, "serve", "smtp", "--backend", "epoll"]
    peer = [SYSTEM_PYTHON, os.path.join(common.ROOT, "bench", "peers", "aiosmtpd_maildir.py")]
    has_aiosmtpd = subprocess.run([SYSTEM_PYTHON, "-c", "import aiosmtpd"],
                                  stderr=subprocess.DEVNULL).returncode == 0
    no_aiosmtpd = None if has_aiosmtpd else "aiosmtpd not installed for %s" % SYSTEM_PYTHON
    return {
        "asynchat": Impl("asynchat", "epoll", {"smtp": Launch(smtp)}),
        "asynchat-split": Impl("asynchat-split", "epoll",
                               {"smtp": Launch(smtp + ["--delivery-cpus", str(args.client_cpu)])}),
        "aiosmtpd": Impl("aiosmtpd", "asyncio", {"smtp": Launch(peer)}, no_aiosmtpd),
        "aiosmtpd-executor": Impl("aiosmtpd-executor", "asyncio", {"smtp": Launch(peer + ["--executor"])},
                                  no_aiosmtpd),
        "bare-writer": Impl("bare-writer", "-", {"writer": Launch([common.bench_binary(args, "bench_maildir_writer")],
                                                                  port_args=())}),
    }


def cpu_us(pid, tid=None):
    us = common.process_cpu_us(pid, tid)
    if us is None:
        raise RuntimeError("no /proc/%d/stat: the server is gone" % pid)
    return us


def settle():
    """Flushes what the previous case left for the disk (its files, its rmtree) so that it does not land on the
    next case's fsyncs."""
    os.sync()
    time.sleep(0.5)


def parse_line(text):
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", text)}


def loadgen(args, port, clients, ping=False, cpu=None):
    realtime = ["chrt", "-f", "10"] if ping and shutil.which("chrt") and os.geteuid() == 0 else []
    argv = realtime + [common.bench_binary(args, "bench_smtp_load"), "--port", str(port), "--clients", str(clients),
                       "--size", str(args.size), "--duration", str(args.duration), "--warmup", str(args.warmup)]
    if ping:
        argv.append("--ping")
    return subprocess.Popen(args.pin.on(args.client_cpu if cpu is None else cpu) + argv, stdout=subprocess.PIPE,
                            text=True)


def serve(args, impl, maildir):
    """The server of `impl` delivering into maildir (its stderr is ours)."""
    return impl.start("smtp", args.pin.server, None, extra=["--maildir", maildir])


def stop(server):
    note = server.stop()
    if note:
        print("bench/run_smtp: %s" % note, file=sys.stderr)


def delivery_run(args, root, impl, clients):
    maildir = tempfile.mkdtemp(prefix="md-", dir=root)
    server = serve(args, impl, maildir)
    try:
        pid = server.proc.pid
        # The pid is the server's (taskset execs it), and its main thread (the loop) has the same id.
        cpu0, loop0 = cpu_us(pid), cpu_us(pid, pid)
        out, _ = loadgen(args, server.port, clients).communicate()
        cpu1, loop1 = cpu_us(pid), cpu_us(pid, pid)
        stored = len(os.listdir(os.path.join(maildir, "new")))
    finally:
        stop(server)
        shutil.rmtree(maildir, ignore_errors=True)
    r = parse_line(out)
    r["cpu_us_per_msg"] = (cpu1 - cpu0) / stored if stored else 0
    r["loop_cpu_us_per_msg"] = (loop1 - loop0) / stored if stored else 0
    return r


def ping_run(args, root, impl, clients):
    """p50/p99 of a NOOP pinger on the server, alone (clients=0) or beside `clients` delivering ones."""
    maildir = tempfile.mkdtemp(prefix="md-", dir=root)
    server = serve(args, impl, maildir)
    try:
        load = loadgen(args, server.port, clients) if clients else None
        ping_out, _ = loadgen(args, server.port, 1, ping=True).communicate()
        if load:
            load.communicate()
    finally:
        stop(server)
        shutil.rmtree(maildir, ignore_errors=True)
    return parse_line(ping_out)


def bare_run(args, root, impl, threads):
    d = tempfile.mkdtemp(prefix="bare-", dir=root)
    try:
        argv = impl.servers["writer"].argv + ["--dir", d, "--threads", str(threads), "--size", str(args.size),
                                              "--duration", str(args.duration)]
        proc = subprocess.Popen(args.pin.server + argv, stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status
        stored = len(os.listdir(os.path.join(d, "new")))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    r = parse_line(out)
    r["cpu_us_per_msg"] = (usage.ru_utime + usage.ru_stime) * 1e6 / stored if stored else 0
    return r


def main(argv=None):
    args = parse_args(argv)
    args.pin = common.Pinning(args.server_cpu, args.client_cpu, prog="bench/run_smtp")
    if not args.no_build:
        common.build(args.build_dir, ["asynchat", "bench_smtp_load", "bench_maildir_writer"], prog="bench/run_smtp")
    impls = implementations(args)
    root = args.maildir_root or tempfile.mkdtemp(prefix="asynchat-bench-smtp-")
    clients_list = [int(c) for c in args.clients.split(",")]
    rows = []

    def row(impl, scenario, clients, r, runs, note="", spread=(0, 0)):
        rows.append({"impl": impl.impl, "backend": impl.backend, "scenario": scenario, "clients": clients,
                     "size": args.size, "msgs_per_s": "%.1f" % r.get("per_s", 0), "p50_us": "%.0f" % r.get("p50_us", 0),
                     "p99_us": "%.0f" % r.get("p99_us", 0),
                     "server_cpu_us_per_msg": "%.0f" % r["cpu_us_per_msg"] if "cpu_us_per_msg" in r else "",
                     "loop_cpu_us_per_msg": "%.0f" % r["loop_cpu_us_per_msg"] if "loop_cpu_us_per_msg" in r else "",
                     "errors": "%d" % r.get("errors", 0), "runs": runs, "msgs_min": "%.1f" % spread[0],
                     "msgs_max": "%.1f" % spread[1], "note": note})
        print(rows[-1], flush=True)

    # Every case once per round, rounds repeated: a noisy stretch of the machine hits every case alike instead of
    # one case's runs all together. A case: (impl, scenario, clients, note) and how to run it once.
    ours, split = impls["asynchat"], impls["asynchat-split"]
    cases = []
    for clients in clients_list:
        cases.append(((ours, "deliver", clients, ""), lambda c=clients: delivery_run(args, root, ours, c)))
        for peer, note in ((impls["aiosmtpd"], "handler writes and fsyncs on the loop"),
                           (impls["aiosmtpd-executor"], "handler fsyncs in run_in_executor (default thread pool)")):
            if peer.reason is None:
                cases.append(((peer, "deliver", clients, note),
                              lambda c=clients, p=peer: delivery_run(args, root, p, c)))
        cases.append(((impls["bare-writer"], "write+fsync+rename+dirfsync", clients, "threads, no SMTP, no batching"),
                      lambda c=clients: bare_run(args, root, impls["bare-writer"], c)))
    hi = max(clients_list)
    cases.append(((split, "deliver", hi, "--delivery-cpus %s: the delivery threads on the client's core" %
                   args.client_cpu), lambda: delivery_run(args, root, split, hi)))
    for impl in (ours, split):
        for clients in (0, 16):
            cases.append(((impl, "noop-ping" + (" beside %d delivering" % clients if clients else " idle"), 1,
                           "NOOP round trips paced 1 ms apart"), lambda c=clients, i=impl: ping_run(args, root, i, c)))
    results = {key: [] for key, _ in cases}
    try:
        for round_no in range(args.runs):
            # Each round starts at a different case, so that no case always follows the same one.
            shift = round_no % len(cases)
            for key, fn in cases[shift:] + cases[:shift]:
                settle()
                results[key].append(fn())
                impl, scenario, clients, note = key
                print("round %d" % round_no, (impl.impl, impl.backend, scenario, clients, note), results[key][-1],
                      flush=True)
        for key, _ in cases:
            runs = sorted(results[key], key=lambda r: r.get("per_s", 0))
            impl, scenario, clients, note = key
            row(impl, scenario, clients, runs[len(runs) // 2], len(runs), note,
                (runs[0].get("per_s", 0), runs[-1].get("per_s", 0)))
        if impls["aiosmtpd"].reason:
            for clients in clients_list:
                row(impls["aiosmtpd"], "deliver", clients, {}, 0, impls["aiosmtpd"].reason)
    finally:
        if not args.maildir_root:
            shutil.rmtree(root, ignore_errors=True)

    with common.CsvFile(args.out, COLUMNS) as out:
        for r in rows:
            out.row(r)
    print("wrote", args.out)

    def rate(impl, clients):
        for r in rows:
            if r["impl"] == impl and r["clients"] == clients and r["scenario"] != "noop-ping":
                return float(r["msgs_per_s"])
        return 0.0
    ours_rate, py, pyx = rate("asynchat", hi), rate("aiosmtpd", hi), rate("aiosmtpd-executor", hi)
    bare, one = rate("bare-writer", hi), rate("asynchat", 1)
    pings = [r for r in rows if r["scenario"].startswith("noop-ping") and r["impl"] == "asynchat"]
    split_pings = [r for r in rows if r["scenario"].startswith("noop-ping") and r["impl"] == "asynchat-split"]
    print("goals at %d clients: %.2fx aiosmtpd (%.2fx with the executor) (>= 4), %.2fx the bare writers (>= 0.8), "
          "%.2fx the 1-client rate (>= 2)" % (hi, ours_rate / py if py else 0, ours_rate / pyx if pyx else 0,
                                              ours_rate / bare if bare else 0, ours_rate / one if one else 0))
    if len(pings) == 2 and float(pings[0]["p99_us"]):
        print("ping p99: idle %s us, delivering %s us: %.2fx (<= 2)" % (
            pings[0]["p99_us"], pings[1]["p99_us"], float(pings[1]["p99_us"]) / float(pings[0]["p99_us"])))
    if len(split_pings) == 2 and float(split_pings[0]["p99_us"]):
        print("ping p99 with the delivery threads on cpu %s: idle %s us, delivering %s us: %.2fx" % (
            args.client_cpu, split_pings[0]["p99_us"], split_pings[1]["p99_us"],
            float(split_pings[1]["p99_us"]) / float(split_pings[0]["p99_us"])))
    return 0
