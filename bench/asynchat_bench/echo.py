"""The echo suite (`bench/run`, `bench/run echo`): `asynchat serve echo --terminator '\\n'` on every backend the
binary lists, and the line echo servers a user would write or pick instead (bench/peers), under bench_loadgen.
Writes bench/results/echo.csv (--quick: echo_quick.csv).

Cases: pingpong at 1/10/100/1000 connections x 64 B/16 KiB; pipelined, depth 16 at 100 connections and 64 B; growth,
10 active connections beside 0/1,000/5,000/10,000 idle ones. Each case runs --runs times (the median by msgs/s is
kept; msgs_spread_pct is (max - min) / median across the runs) with the server pinned to --server-cpu and the load
generator to --client-cpu; a run during which the rest of the machine was busy (--max-other-cpu) is run again, up to
--retries times. The backends are the ones the asynchat binary lists (so a newly registered one, such as
asio, is measured as soon as it exists); --backends narrows them. A case a server cannot run (select past
FD_SETSIZE, a peer not built) is written as a row with runs=0 and the reason in `note`. Exit status 1 when any run
failed or counted an error.
"""
import csv
import os
import resource
import subprocess
import sys

from . import common
from .common import FD_SETSIZE, Impl, Launch

COLUMNS = ["impl", "backend", "scenario", "connections", "idle", "size", "depth", "msgs_per_s", "mb_per_s",
           "p50_us", "p99_us", "server_cpu_us_per_msg", "errors", "runs",
           # after the fixed columns: how far apart the runs were, what the load generator spent, and why a case
           # was skipped or failed
           "msgs_spread_pct", "client_cpu_us_per_msg", "other_cpu_pct", "note"]
PEERS = ["python-select", "python-poll", "boost-asio", "c-epoll", "libevent"]
# --ab names an implementation as impl/backend, as the CSVs' first two columns do; a peer also by its --peers name.
PEER_LABELS = {"python-select": "python-asynchat/select", "python-poll": "python-asynchat/poll",
               "boost-asio": "boost-asio/epoll", "c-epoll": "c-epoll/epoll", "libevent": "libevent/epoll"}
# The peers built by bench/CMakeLists.txt, by --peers name.
PEER_TARGETS = {"boost-asio": "peer_asio_echo", "c-epoll": "peer_c_epoll_echo", "libevent": "peer_libevent_echo"}
SCENARIOS = ("pingpong", "pipelined", "growth")


class EchoSuite(common.Suite):
    name = "echo"
    columns = COLUMNS
    rate, cpu, unit, spread = "msgs_per_s", "server_cpu_us_per_msg", "msg", "msgs_spread_pct"
    case_columns = ["scenario", "connections", "idle", "size", "depth"]
    # bench_loadgen's own line has connections, idle, size and depth.
    raw_case_columns = ["scenario"]
    peers, peer_labels = PEERS, PEER_LABELS
    duration, warmup = (2.0, 0.5), (0.5, 0.2)
    build_targets = ["asynchat", "bench_loadgen"]
    # The peers are optional (libevent only exists with libevent-dev): one that does not build is skipped later.
    optional_targets = ["peer_c_epoll_echo", "peer_asio_echo", "peer_libevent_echo"]
    rate_suffix = " msgs/s"
    ab_names_help = ", asynchat-cpp+NAME/BACKEND for each --also-asynchat NAME=PATH"
    variants = True

    def raw_case_values(self, case):
        return [case[0]]

    def describe(self, case):
        scenario, conns, idle, size, depth = case
        if scenario == "pipelined":
            return "pipelined depth %d, %d conns, %s" % (depth, conns, common.size_text(size))
        if scenario == "growth":
            return "growth, %d conns + %d idle" % (conns, idle)
        return "ping-pong, %d conns, %s" % (conns, common.size_text(size))

    def progress(self, case):
        return "%s conns=%d idle=%d size=%d depth=%d" % case

    def summary(self, case):
        return ""

    def case_from_raw(self, line):
        return (line["scenario"], int(line["connections"]), int(line["idle"]), int(line["size"]),
                int(line["depth"]))

    def check_args(self, ap, a):
        a.scenarios = [s for s in (a.scenarios or ("pingpong,pipelined" if a.ab else "pingpong,pipelined,growth"))
                       .split(",") if s]
        bad = [s for s in a.scenarios if s not in SCENARIOS]
        if bad:
            ap.error("unknown scenario %s" % ", ".join(bad))
        if any("=" not in v for v in a.also_asynchat):
            ap.error("--also-asynchat takes NAME=PATH")

    def run(self, a):
        return main(a)


SUITE = EchoSuite()


def cases(a):
    """(scenario, connections, idle, size, depth), in the order they run."""
    out = []
    if "pingpong" in a.scenarios:
        sizes = common.int_list(a.sizes, [64] if a.quick else [64, 16384])
        # One connection measures the VM's wake-up latency, the same for every server: not an A/B case.
        counts = common.int_list(a.connections, [10, 100, 1000] if a.ab else [1, 100] if a.quick else
                                 [1, 10, 100, 1000])
        for size in sizes:
            for conns in counts:
                out.append(("pingpong", conns, 0, size, 1))
    if "pipelined" in a.scenarios:
        out.append(("pipelined", 100, 0, 64, 16))
    if "growth" in a.scenarios:
        for idle in ([0, 1000] if a.quick else [0, 1000, 5000, 10000]):
            out.append(("growth", 10, idle, 64, 1))
    return out


def ours(asynchat, backends=None, impl="asynchat-cpp"):
    """`asynchat serve echo` on each of `backends` (default: every backend the binary lists), one Impl each, named
    impl; a backend the binary does not list is an Impl with the reason."""
    listed = common.listed_backends(asynchat, "echo")
    if listed is None:
        sys.exit("bench/run: cannot find the backend list in `%s serve echo --help`" % asynchat)
    out = []
    for b in backends or listed:
        if b in listed:
            # --max-connections: the growth case holds 10,010 connections, past the command's default admission
            # limit (10,000); the benchmark measures the loop, not that limit.
            argv = [asynchat, "serve", "echo", "--backend", b, "--terminator", "\\n", "--max-connections", "1000000"]
            out.append(Impl(impl, b, {"echo": Launch(argv)},
                            fd_limit=FD_SETSIZE if b == "select" else None))
        else:
            out.append(Impl(impl, b, reason="backend not registered in this build (has: %s)" %
                            ",".join(listed)))
    return out


def python_has_asynchat():
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", "import asynchat, asyncore"], capture_output=True)
    return r.returncode == 0


def peers(a):
    """The --peers, one Impl each: Python's asynchat (select, poll) and the peers bench/CMakeLists.txt builds."""
    out = []
    peer_script = os.path.join(common.ROOT, "bench", "peers", "python_asynchat_echo.py")
    has_py = python_has_asynchat() if any(p.startswith("python") for p in a.peers) else False
    for p in a.peers:
        if p.startswith("python-"):
            mech = p.split("-", 1)[1]
            argv = [sys.executable, peer_script] + (["--poll"] if mech == "poll" else [])
            out.append(Impl("python-asynchat", mech, {"echo": Launch(argv)} if has_py else {},
                            None if has_py else "python3 has no asynchat module (removed in 3.12)",
                            FD_SETSIZE if mech == "select" else None))
            continue
        exe = common.bench_binary(a, PEER_TARGETS[p])
        ok = os.access(exe, os.X_OK)
        out.append(Impl(p, "epoll", {"echo": Launch([exe])} if ok else {},
                        None if ok else "not built (%s missing)" % os.path.basename(exe)))
    return out


def skip_reason(impl, case, fd_limit):
    """Why an implementation cannot run this case, or None."""
    _, conns, idle, _, _ = case
    needed = conns + idle + 8   # stdio, listener, the poller's own fds
    reason = impl.reason
    if reason is None and impl.fd_limit is not None and needed > impl.fd_limit:
        reason = "skipped: %s cannot watch an fd >= FD_SETSIZE (%d) and this case needs ~%d" % (
            impl.backend, impl.fd_limit, needed)
    if reason is None and needed > fd_limit:
        reason = "skipped: needs ~%d fds, ulimit -n is %d" % (needed, fd_limit)
    return reason


def loadgen_header(loadgen):
    """bench_loadgen's CSV columns (its --header): the keys of the row one_run returns."""
    return subprocess.run([loadgen, "--header"], capture_output=True, text=True, check=True).stdout.strip().split(",")


def one_run(a, loadgen, header, launch, case, log, env=None, loadgen_args=(), check=None):
    """One server (a Launch), one bench_loadgen run against it. Returns (row dict or None, errors, note). The tls
    suite gives the load generator's environment (env), its --tls (loadgen_args), and a check(port) run before the
    load that returns None or what was wrong (the suite the server negotiated)."""
    scenario, conns, idle, size, depth = case
    try:
        server = launch.start(a.pin.server, log)
    except RuntimeError as e:
        return None, 1, str(e)
    notes = []
    bad = check(server.port) if check else None
    if bad:
        notes.append(bad)
        out, err, rc = "", "", 0
    else:
        setup = 120.0
        cmd = a.pin.client + [loadgen, "--port", str(server.port), "--connections", str(conns), "--idle", str(idle),
                              "--size", str(size), "--depth", str(depth), "--warmup", str(a.warmup),
                              "--duration", str(a.duration), "--server-pid", str(server.proc.pid),
                              "--setup-timeout", str(setup)] + list(loadgen_args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=2 * setup + a.warmup + a.duration + 60,
                               env=env)
            out, err, rc = r.stdout, r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = "", (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else "", -1
    alive = server.proc.poll() is None
    stop_note = server.stop()
    if not alive:
        notes.append("server died during the run")
    if stop_note and alive:
        notes.append(stop_note)
    row = None
    lines = [l for l in out.splitlines() if l.strip()]
    if lines:
        values = next(csv.reader([lines[-1]]))
        if len(values) == len(header):
            row = dict(zip(header, values))
    errors = int(row["errors"]) if row else 1
    if rc != 0:
        first = err.strip().splitlines()[:1]
        notes.append("load generator exit %d%s" % (rc, (": " + first[0]) if first else ""))
    elif row is None and not bad:
        notes.append("load generator printed no result line")
    if notes and errors == 0:
        errors = 1
    return row, errors, " | ".join(notes)


def main(a):
    asynchat, loadgen = common.asynchat_path(a), common.loadgen_path(a)
    for exe in (asynchat, loadgen):
        if not os.access(exe, os.X_OK):
            sys.exit("bench/run: %s is missing (build it, or drop --no-build)" % exe)
    header = loadgen_header(loadgen)
    backends = [b for b in a.backends.split(",") if b] if a.backends else None
    impls = ours(asynchat, backends)
    # Another build (--also-asynchat NAME=PATH: a commit before a change) on the same backends, in the same rounds.
    for variant in a.also_asynchat:
        name, path = variant.split("=", 1)
        impls += ours(path, backends, "asynchat-cpp+" + name)
    impls += peers(a)
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return common.run_suite(a, SUITE, impls, cases(a),
                            skip=lambda impl, case: skip_reason(impl, case, fd_limit),
                            measure=lambda impl, case, log: one_run(a, loadgen, header, impl.servers["echo"], case,
                                                                    log),
                            raw_keys=header)
