"""What every suite of the benchmarks shares, written once: where the binaries are (and building them), the common
options, pinning to CPUs, a server process on a port, the CPU a process and the machine used, the quiet-machine
checks and their retries, the CSV files, one implementation's shape, and the two ways a bench/run suite measures —
the matrix (every implementation on every case, --runs times, the median kept) and the A/B session (--ab: rounds,
the order rotating, ratios within each round).

The A/B session (`bench/run [echo|http|tls] --ab SUBJECT,REF[,REF...]`), which the verdicts of
docs/benchmarks.md rest on. Implementations are named as in the CSVs' impl/backend columns (asynchat-cpp/epoll,
asynchat-cpp/asio, c-epoll/epoll, python-asynchat/select; http: asynchat-cpp/epoll, nginx/epoll,
python-http.server/threads, asynchat-cpp+NAME/epoll for --also-asynchat NAME=PATH) or by their --peers name
(c-epoll, boost-asio, libevent, python-select, python-poll; nginx, python-http.server,
python-http.server-nodelay); the first is the subject, the others its references. For each case (default:
pingpong at 10/100/1000 connections x 64 B/16 KiB and pipelined depth 16 at 100; http and tls: the suite's own
cases), --runs rounds (default 9); in each round every implementation runs once, pinned and retried as in the
matrix, round r starting with the (r mod n)-th so that none always goes first; the ratio subject / reference of
the suite's rate (msgs/s, requests/s, ops/s) and of its server CPU per message (request, op) is taken within each
round. One CSV row per case and reference (bench/results/echo_ab_ratios.csv, http_ab_ratios.csv,
tls_ab_ratios.csv; --quick: *_ab_ratios_quick.csv): the median ratio and its min, quartiles and max over the
rounds, each side's median rate and CPU, and with --goal-msgs/--goal-cpu a verdict ("met", or "missed: msgs/s,
CPU"); the same as a Markdown table on stdout. --raw writes every run as the matrix's --raw does, its run column
being the round. A subject that cannot run is an error; a reference that cannot run (a backend the binary does not
list, a peer not built) is a row with the reason in `note`. --from-raw recomputes the table from an earlier --raw
file (rounds by its run column) without running anything.
"""
import csv
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results")
DEFAULT_BUILD_DIR = os.path.join(ROOT, "build", "release")
FD_SETSIZE = 1024


# ---- binaries ----------------------------------------------------------------------------------------------------

def asynchat_path(a):
    """--asynchat, or the asynchat command of --build-dir."""
    return getattr(a, "asynchat", None) or os.path.join(a.build_dir, "apps", "asynchat", "asynchat")


def bench_binary(a, name):
    """A program of bench/CMakeLists.txt (bench_loadgen, peer_c_epoll_echo, ...) in --build-dir."""
    return os.path.join(a.build_dir, "bench", name)


def loadgen_path(a):
    """--loadgen, or bench_loadgen of --build-dir."""
    return getattr(a, "loadgen", None) or bench_binary(a, "bench_loadgen")


def build(build_dir, targets, optional=(), prog="bench/run"):
    """The Release build of `targets` in build_dir (configured first); an `optional` target that does not build
    (a peer whose library is not installed) is left out, and its rows say it is not built."""
    def cmake(*args, check=True):
        r = subprocess.run(["cmake"] + list(args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        if check and r.returncode != 0:
            sys.exit("%s: cmake %s failed:\n%s" % (prog, " ".join(args), r.stderr[-4000:]))
        return r.returncode == 0
    cmake("-S", ".", "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release")
    jobs = "-j%d" % (os.cpu_count() or 2)
    cmake("--build", build_dir, jobs, "--target", *targets)
    for target in optional:
        cmake("--build", build_dir, jobs, "--target", target, check=False)


def listed_backends(asynchat, subcommand):
    """The backends `asynchat serve SUBCOMMAND --help` offers, e.g. "--backend TEXT:{select,poll,epoll}=epoll", or
    None when the binary has no such subcommand."""
    r = subprocess.run([asynchat, "serve", subcommand, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        if "--backend" in line:
            m = re.search(r"\{([^}]*)\}", line)
            if m:
                return [b.strip() for b in m.group(1).split(",") if b.strip()]
    return None


def raise_fd_limit():
    """Every connection is an fd in both processes: 10,000 idle connections need far more than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- the common options ------------------------------------------------------------------------------------------

def add_build_options(ap, no_build=True, asynchat=True, loadgen=True):
    ap.add_argument("--build-dir", default=DEFAULT_BUILD_DIR,
                    help="where the Release build goes (default build/release)")
    if no_build:
        ap.add_argument("--no-build", action="store_true", help="use the binaries already in --build-dir")
    if asynchat:
        ap.add_argument("--asynchat", help="the asynchat binary (default: in --build-dir)")
    if loadgen:
        ap.add_argument("--loadgen", help="the bench_loadgen binary (default: in --build-dir)")


def add_pin_options(ap, no_pin=True):
    ap.add_argument("--server-cpu", default="0", help="CPU the server is pinned to (default 0)")
    ap.add_argument("--client-cpu", default="1", help="CPU the load generator is pinned to (default 1)")
    if no_pin:
        ap.add_argument("--no-pin", action="store_true", help="do not pin server and load generator to CPUs")


def add_quiet_options(ap):
    ap.add_argument("--max-other-cpu", type=float, default=15.0,
                    help="a run during which the rest of the machine used more CPU than this (percent of one core) "
                         "is disturbed and run again (default %(default)s)")
    ap.add_argument("--retries", type=int, help="extra attempts for a disturbed run (default 2, quick 0)")
    ap.add_argument("--quiet-wait", type=float,
                    help="before each run, wait up to this many seconds for the rest of the machine to go quiet "
                         "(default 10, quick 0)")
    ap.add_argument("--extra-time", type=float, default=600.0,
                    help="total seconds the waits and retries for a quiet machine may add (default %(default)s)")


def add_variant_option(ap):
    ap.add_argument("--also-asynchat", action="append", default=[], metavar="NAME=PATH",
                    help="echo, http, tls: another asynchat binary (a build with a patch), measured on the same backends in the "
                         "same rounds as impl asynchat-cpp+NAME; repeatable")


def add_ab_options(ap):
    ap.add_argument("--ab", metavar="SUBJECT,REF[,REF...]",
                    help="an A/B session instead of the matrix: these implementations (impl/backend as in the CSV, "
                         "e.g. asynchat-cpp/epoll, c-epoll, boost-asio, python-select; http: asynchat-cpp/epoll, "
                         "nginx, python-http.server) take turns within each of --runs rounds (default 9), the order "
                         "rotating round by round, and the first one's msgs/s and server CPU per message are divided "
                         "by each other's within every round; writes the median and spread of those ratios per case "
                         "(bench/results/echo_ab_ratios.csv; http: http_ab_ratios.csv) and prints them as a table")
    ap.add_argument("--goal-msgs", type=float, metavar="RATIO",
                    help="--ab: the verdict column says 'met' when the median msgs/s (http: requests/s) ratio is at "
                         "least this")
    ap.add_argument("--goal-cpu", type=float, metavar="RATIO",
                    help="--ab: ... and the median server CPU per message (request) ratio at most this")
    ap.add_argument("--from-raw", metavar="FILE",
                    help="--ab: run nothing; take the rounds from a --raw file of an earlier session (the matrix's "
                         "--raw format, rounds by its run column) and print their table (a CSV only with --out)")


def finish_args(ap, a, suite):
    """The defaults and checks every bench/run suite shares (a suite's own follow in suite.check_args): durations,
    runs, retries and the output file by suite and mode, the peers it knows, --ab's names."""
    a.out_given = a.out is not None
    if a.ab is None and (a.goal_msgs is not None or a.goal_cpu is not None or a.from_raw):
        ap.error("--goal-msgs, --goal-cpu and --from-raw go with --ab")
    if a.ab is not None and (a.backends or a.peers or a.no_peers):
        ap.error("--ab names the implementations itself: drop --backends, --peers and --no-peers")
    a.duration = a.duration if a.duration is not None else suite.duration[a.quick]
    a.warmup = a.warmup if a.warmup is not None else suite.warmup[a.quick]
    a.runs = a.runs if a.runs is not None else (1 if a.quick else (9 if a.ab else 3))
    a.retries = a.retries if a.retries is not None else (0 if a.quick else 2)
    a.out = a.out or os.path.join(RESULTS, "%s%s%s.csv" % (suite.name, "_ab_ratios" if a.ab else "",
                                                          "_quick" if a.quick else ""))
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (0.0 if a.quick else 10.0)
    if a.duration <= 0 or a.warmup < 0 or a.runs < 1:
        ap.error("--duration must be > 0, --warmup >= 0, --runs >= 1")
    a.peers = [] if a.no_peers else [p for p in (a.peers or ",".join(suite.peers)).split(",") if p]
    unknown = [p for p in a.peers if p not in suite.peers]
    if unknown:
        ap.error("unknown peer %s (known: %s)" % (", ".join(unknown), ", ".join(suite.peers)))
    if a.ab is not None:
        parse_ab(ap, a, suite)
    suite.check_args(ap, a)
    return a


def int_list(text, default):
    """A comma-separated option (--connections, --sizes, ...) as ints, or the default when it was not given."""
    return [int(x) for x in text.split(",")] if text else default


# ---- pinning -----------------------------------------------------------------------------------------------------

class Pinning:
    """--server-cpu, --client-cpu and --no-pin as the taskset prefixes of a server's and a load generator's argv
    (taskset execs the program: its pid is the program's). Without taskset on PATH everything runs unpinned, and
    that is said once on stderr."""
    def __init__(self, server_cpu, client_cpu, enabled=True, prog="bench/run"):
        if enabled and not shutil.which("taskset"):
            print("%s: taskset not found; running unpinned" % prog, file=sys.stderr)
            enabled = False
        self.enabled = enabled
        self.server = self.on(server_cpu)
        self.client = self.on(client_cpu)

    def on(self, cpu):
        return ["taskset", "-c", str(cpu)] if self.enabled else []


# ---- a server under test -----------------------------------------------------------------------------------------

class Server:
    """A server process on a port: by default it is given --port 0 and prints the port it got as its first line,
    ours as "listening on HOST:PORT", Python's http.server as "Serving HTTP on HOST port PORT ...". A server that
    cannot be told to pick one (nginx) is given `port` and waited for until it accepts a connection."""
    def __init__(self, argv, pin, log, port_args=("--port", "0"), port=None, stop_signal=signal.SIGTERM, env=None):
        self.stop_signal = stop_signal
        self.proc = subprocess.Popen(pin + argv + list(port_args), stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL, env=env)
        self.port = port
        if port is not None:
            if not self._accepting(port, 15.0):
                self.stop()
                raise RuntimeError("server did not accept connections on 127.0.0.1:%d" % port)
            return
        line = self._first_line(15.0)
        m = re.match(r"listening on (.*):(\d+)$", line or "") or re.match(r"Serving HTTP on (\S+) port (\d+)",
                                                                        line or "")
        if not m:
            self.stop()
            raise RuntimeError("server did not print 'listening on HOST:PORT' (got %r)" % line)
        self.port = int(m.group(2))

    def _accepting(self, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def _first_line(self, timeout):
        data = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\n", 1)[0].decode(errors="replace").strip()

    def stop(self):
        """SIGTERM, then the exit status; a server that ignores it is killed and reported."""
        if self.proc.poll() is not None:
            return "server exited early with status %d" % self.proc.returncode
        self.proc.send_signal(self.stop_signal)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "server did not exit on SIGTERM"
        finally:
            self.proc.stdout.close()
        return None if rc == 0 else "server exited with status %d on %s" % (rc, signal.Signals(self.stop_signal).name)


def free_port():
    """A port nothing listens on now, for a server that cannot be asked to pick one and tell (nginx)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Launch:
    """How to start one server: its argv, how it is told to pick a port (port_args, after the argv), the signal that
    stops it, its environment. A server that cannot pick its own port (nginx) has a `config(port)` instead, which
    writes its configuration for a free port and returns the arguments that point it there."""
    argv: list
    port_args: tuple = ("--port", "0")
    stop_signal: int = signal.SIGTERM
    env: Optional[dict] = None
    config: Optional[Callable[[int], list]] = None

    def start(self, pin, log, extra=()):
        """The running Server (RuntimeError or OSError when it does not come up); `extra` goes after the argv."""
        if self.config is None:
            return Server(self.argv + list(extra), pin, log, self.port_args, stop_signal=self.stop_signal,
                          env=self.env)
        port = free_port()
        return Server(self.argv + list(extra) + self.config(port), pin, log, port_args=(), port=port,
                      stop_signal=self.stop_signal, env=self.env)


@dataclass(eq=False)
class Impl:
    """One implementation, in every suite — the server under test on one backend, or a peer: its name as the CSVs
    write it (impl, backend; `label` is "impl/backend", the name --ab takes), how to start it (a Launch for each
    kind of server the suite's cases need: "echo", "http", "smtp", ...), and why it cannot run at all (not built,
    not installed, a backend the binary does not list), or None. fd_limit: the highest fd it can watch (select:
    FD_SETSIZE); tls: it serves TLS (the tls suite). Two Impls are the same only when they are one object."""
    impl: str
    backend: str
    servers: dict = field(default_factory=dict)
    reason: Optional[str] = None
    fd_limit: Optional[int] = None
    tls: bool = False

    @property
    def label(self):
        return "%s/%s" % (self.impl, self.backend)

    def key(self):
        return (self.impl, self.backend)

    def start(self, kind, pin, log, extra=()):
        return self.servers[kind].start(pin, log, extra)


# ---- CPU time ----------------------------------------------------------------------------------------------------

def process_cpu_us(pid, tid=None):
    """utime + stime of a process (every thread) or of one of its threads, in µs, from /proc; None when it is gone."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_us():
    """user + nice + system + irq + softirq of the whole machine: the loopback TCP work runs as softirq, which
    /proc/PID/stat charges to the process it interrupted, so it has to be in the machine's figure too for the rest
    (other_cpu_pct) to come out near 0 on a quiet machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) * 1e6 / os.sysconf("SC_CLK_TCK")


def machine_busy_pct(seconds):
    """CPU time (user + nice + system) the whole machine used over `seconds`, in percent of one core."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:4]]
        return sum(v)
    try:
        before = sample()
        time.sleep(seconds)
        return (sample() - before) / os.sysconf("SC_CLK_TCK") / seconds * 100
    except (OSError, ValueError):
        return 0.0


def children_cpu_us():
    """utime + stime of every child process waited for so far (the load generators), in µs."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * 1e6


# ---- a quiet machine ---------------------------------------------------------------------------------------------

class Budget:
    """What the waits and retries for a quiet machine may add to the whole run (--extra-time)."""
    def __init__(self, seconds):
        self.left = seconds

    def spend(self, since):
        self.left -= time.monotonic() - since

    def __bool__(self):
        return self.left > 0


def wait_for_quiet(a, budget):
    """Other processes (builds, test suites) share the CPUs on a shared machine: start a run when they are quiet,
    or after --quiet-wait seconds."""
    if a.quiet_wait <= 0 or not budget:
        return
    start = time.monotonic()
    while time.monotonic() - start < a.quiet_wait and budget:
        if machine_busy_pct(0.2) <= a.max_other_cpu:
            break
        time.sleep(0.75)
    budget.spend(start)


def attempt(a, run, budget):
    """run() (a suite's one run), again while the rest of the machine was busy during the window (up to --retries
    more times, within the --extra-time budget); the least disturbed attempt is kept. Returns run()'s triple and
    how many attempts were disturbed."""
    best, disturbed = None, 0
    for i in range(1 + max(a.retries, 0)):
        if i > 0 and not budget:
            break
        wait_for_quiet(a, budget)
        started = time.monotonic()
        row, errors, note = run()
        if i > 0:
            budget.spend(started)
        other = float(row["other_cpu_pct"]) if row and row.get("other_cpu_pct") else 0.0
        if row is None or errors:
            return (row, errors, note), disturbed
        if best is None or other < best[1]:
            best = ((row, errors, note), other)
        if other <= a.max_other_cpu:
            break
        disturbed += 1
    return best[0], disturbed


def measured_run(a, run, budget):
    """attempt(), and what every suite notes of it: a run kept although the machine stayed busy (in the note), and
    the disturbed attempts that were run again (on stderr). Returns run()'s triple (row dict or None, errors,
    note)."""
    (row, errors, note), disturbed = attempt(a, run, budget)
    if row and float(row.get("other_cpu_pct") or 0) > a.max_other_cpu:
        note = (note + " | " if note else "") + "a run kept with the machine busy elsewhere"
    if disturbed:
        print("    (%d attempt%s disturbed by the rest of the machine)" % (disturbed, "s" * (disturbed > 1)),
              file=sys.stderr, flush=True)
    return row, errors, note


# ---- CSV files and progress --------------------------------------------------------------------------------------

class CsvFile:
    """One CSV a suite writes — its results, its --raw runs, an A/B table: the directory made, the header first,
    each row a list in column order or a dict by column name (a missing column is empty, others are ignored),
    flushed as it is written, so that a long run that stops leaves what it measured. path None writes nothing."""
    def __init__(self, path, columns):
        self.path, self.columns, self.file, self.writer = path, list(columns), None, None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.file = open(path, "w", newline="")
            self.writer = csv.writer(self.file, lineterminator="\n")
            self.row(self.columns)

    def row(self, values):
        if self.writer is None:
            return
        if isinstance(values, dict):
            values = [values.get(c, "") for c in self.columns]
        self.writer.writerow(values)
        self.file.flush()

    def close(self):
        if self.file:
            self.file.close()
            self.file = self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(done, total, started, text):
    """A run's line on stderr: "[done/total elapsed] text"."""
    el = time.monotonic() - started
    print("[%d/%d %dm%02ds] %s" % (done, total, el // 60, el % 60, text), file=sys.stderr, flush=True)


def print_server_log(log):
    """The tail of what the servers wrote to stderr, after a run failed."""
    log.seek(0)
    tail = log.read()[-3000:].decode(errors="replace")
    if tail.strip():
        print("bench/run: server stderr (last lines):\n" + tail, file=sys.stderr)


def print_finished(done, started, out):
    el = time.monotonic() - started
    print("bench/run: %d runs in %dm%02ds; wrote %s" % (done, el // 60, el % 60, out), file=sys.stderr)


def median_row(rows, key):
    """The run whose `key` (msgs/s, requests/s) is the median (the lower one of the middle two for an even count),
    whole."""
    ordered = sorted(rows, key=lambda r: float(r[key]))
    return ordered[(len(ordered) - 1) // 2]


def size_text(size):
    return "%d KiB" % (size // 1024) if size >= 1024 and size % 1024 == 0 else "%d B" % size


def rate_text(rate):
    """msgs/s as the docs write them: 2,276k, 174k, 13k, 9.2k, 754."""
    if rate >= 10000:
        return "{:,}k".format(round(rate / 1000))
    return "%.1fk" % (rate / 1000) if rate >= 1000 else "%.0f" % rate


# ---- a suite of bench/run ----------------------------------------------------------------------------------------

class Suite:
    """One suite of bench/run as the shared machinery sees it; each suite module (echo, http, tls) defines one.

    name: the positional argument and the results file's stem. columns: the matrix CSV's; its first are impl,
    backend and case_columns, then the measured figures named as in a run's row, then errors, runs, `spread`, the
    rest of the measured figures and note. rate and cpu: the two figures an A/B session compares, per `unit`.
    peers / peer_labels: the --peers names and the impl/backend each stands for. duration, warmup: (default,
    --quick). build_targets / optional_targets: what bench/run builds for it. raw_case_columns: the columns of a
    --raw line before `run` (after impl, backend), the rest being the run's own figures."""
    name = None
    columns = []
    rate = cpu = unit = spread = None
    case_columns = []
    raw_case_columns = None
    peers = []
    peer_labels = {}
    duration = warmup = (None, None)
    build_targets = ["asynchat"]
    optional_targets = []
    rate_suffix = "/s"
    ab_names_help = ""      # what else --ab's "unknown implementation" error lists as known
    variants = False        # --ab takes asynchat-cpp+NAME/BACKEND (--also-asynchat)
    plaintext = False       # --ab takes asynchat-cpp-plaintext/BACKEND

    @property
    def word(self):
        return self.rate.split("_", 1)[0]   # msgs, requests, ops

    def case_values(self, case):
        """The case as the values of case_columns."""
        return list(case)

    def raw_case_values(self, case):
        return self.case_values(case)

    def raw_columns(self, keys):
        return ["impl", "backend"] + (self.raw_case_columns or self.case_columns) + ["run"] + list(keys)

    def describe(self, case):
        """The case in words, as the A/B table's first column."""
        raise NotImplementedError

    def progress(self, case):
        """The case on a run's progress line."""
        return self.describe(case)

    def summary(self, case):
        """The case on the line printed after its median, after the implementation's name."""
        return " " + self.describe(case)

    def case_from_raw(self, line):
        """The case of one line of a --raw file (a dict), as the suite's cases are written."""
        raise NotImplementedError

    def check_args(self, ap, a):
        """The suite's own option defaults and checks, after finish_args()."""

    def ab_columns(self):
        ratio = lambda what: [what + "_ratio"] + [what + "_ratio_" + s for s in ("min", "q1", "q3", "max")]
        return (["subject", "reference"] + self.case_columns + ["rounds"] +
                ["subject_" + self.rate, "reference_" + self.rate] + ratio(self.word) +
                ["subject_cpu_us_per_" + self.unit, "reference_cpu_us_per_" + self.unit] + ratio("cpu") +
                ["errors", "other_cpu_pct_max", "goal_%s_ratio" % self.word, "goal_cpu_ratio", "verdict", "note"])

    def run(self, a):
        """The suite's session (matrix or A/B) with the options parsed; the exit status."""
        raise NotImplementedError


def run_suite(a, suite, impls, matrix, skip, measure, raw_keys):
    """What every suite's run ends in: the matrix, or with --ab the A/B session, of `impls` over the cases of
    `matrix`. skip(impl, case): why an implementation cannot run a case, or None. measure(impl, case, log): one run,
    the servers' stderr going to log; returns (row dict or None, errors, note), the row holding the suite's
    measured columns and raw_keys (what a --raw line has after its run column). The exit status: 1 when a run
    failed or counted an error."""
    with CsvFile(a.raw, suite.raw_columns(raw_keys)) as raw, tempfile.TemporaryFile() as log:
        def run_once(impl, case, run_no, budget):
            row, errors, note = measured_run(a, lambda: measure(impl, case, log), budget)
            if row:
                raw.row([impl.impl, impl.backend] + suite.raw_case_values(case) + [run_no] +
                        [row[k] for k in raw_keys])
            return row, errors, note
        if a.ab:
            by_label = {impl.label: impl for impl in impls}
            return ab_session(a, suite, ab_available(a, by_label), matrix, skip, run_once, log)
        return matrix_session(a, suite, impls, matrix, skip, run_once, log)


def matrix_session(a, suite, impls, matrix, skip, run_once, log):
    """Every case with every implementation, --runs times; the runs go round the implementations, so that a slow
    drift of the machine spreads over all of them. One row per case and implementation: the run with the median
    rate, whole, with errors summed over the runs, how far apart the runs were (`spread`, percent of the median)
    and their notes; an implementation that cannot run the case is a row with runs=0 and the reason in note."""
    plan = [(case, [(impl, skip(impl, case)) for impl in impls]) for case in matrix]
    total = sum(a.runs for _, todo in plan for _, reason in todo if reason is None)
    started, budget, done, failed = time.monotonic(), Budget(a.extra_time), 0, False
    measured = [c for c in suite.columns if c not in ["impl", "backend"] + suite.case_columns +
                ["errors", "runs", suite.spread, "note"]]
    with CsvFile(a.out, suite.columns) as out:
        for case, todo in plan:
            results = {impl.key(): ([], 0, []) for impl, _ in todo}
            for r in range(a.runs):
                for impl, reason in todo:
                    if reason is not None:
                        continue
                    done += 1
                    progress(done, total, started, "%s %s run %d/%d" % (impl.label, suite.progress(case), r + 1,
                                                                       a.runs))
                    row, errors, note = run_once(impl, case, r + 1, budget)
                    rows, errs, notes = results[impl.key()]
                    if row:
                        rows.append(row)
                    if note:
                        notes.append(note)
                    results[impl.key()] = (rows, errs + errors, notes)
            for impl, reason in todo:
                key = dict(zip(["impl", "backend"] + suite.case_columns,
                               [impl.impl, impl.backend] + suite.case_values(case)))
                if reason is not None:
                    out.row(dict(key, errors=0, runs=0, note=reason))
                    continue
                rows, errs, notes = results[impl.key()]
                if errs:
                    failed = True
                note = " | ".join(sorted(set(notes)))
                if not rows:
                    out.row(dict(key, errors=errs, runs=0, note=note or "failed"))
                    continue
                m = median_row(rows, suite.rate)
                rates = [float(x[suite.rate]) for x in rows]
                mid = statistics.median(rates)
                out.row(dict(key, **{c: m[c] for c in measured}, errors=errs, runs=len(rows), note=note,
                             **{suite.spread: "%.1f" % ((max(rates) - min(rates)) / mid * 100 if mid else 0)}))
                print("    %s%s: %s%s, p99 %s us, server %s us/%s, errors %d" % (
                    impl.label, suite.summary(case), m[suite.rate], suite.rate_suffix, m["p99_us"], m[suite.cpu],
                    suite.unit, errs), file=sys.stderr, flush=True)
        if failed:
            print_server_log(log)
    print_finished(done, started, a.out)
    return 1 if failed else 0


# ---- the A/B session (--ab) --------------------------------------------------------------------------------------

def parse_ab(ap, a, suite):
    """--ab's names made canonical (impl/backend, the subject first), and the backends and peers to set up for
    them in a.backends and a.peers (tls: a.plaintext_backends)."""
    variants = [v.split("=", 1)[0] for v in a.also_asynchat] if suite.variants else []
    if suite.plaintext and a.plaintext_backends is not None:
        ap.error("--ab names the implementations itself: drop --plaintext-backends (name asynchat-cpp-plaintext/B)")
    labels = []
    for name in (n.strip() for n in a.ab.split(",")):
        if not name:
            continue
        label = suite.peer_labels.get(name, name)
        # tls: asynchat-cpp/B serves TLS, asynchat-cpp-plaintext/B the same without it (the plaintext reference).
        ours = re.match(r"asynchat-cpp(?:\+([^/]+)|(-plaintext))?/(.+)$", label)
        known_ours = ours and (ours.group(2) is None or suite.plaintext) and (
            ours.group(1) is None or ours.group(1) in variants)
        if label not in suite.peer_labels.values() and not known_ours:
            ap.error("--ab: unknown implementation %r (known: asynchat-cpp/BACKEND%s, %s)" % (
                name, suite.ab_names_help,
                ", ".join(sorted(set(suite.peer_labels) | set(suite.peer_labels.values())))))
        if label in labels:
            ap.error("--ab: %s is named twice" % label)
        labels.append(label)
    if len(labels) < 2:
        ap.error("--ab takes a subject and at least one reference: SUBJECT,REF[,REF...]")
    a.ab = labels
    # An empty --backends means "all the binary lists"; the session picks its own out of them by label.
    a.backends = ",".join(dict.fromkeys(l.split("/", 1)[1] for l in labels if l.startswith("asynchat-cpp") and
                                        not l.startswith("asynchat-cpp-plaintext/")))
    if suite.plaintext:
        a.plaintext_backends = ",".join(dict.fromkeys(l.split("/", 1)[1] for l in labels
                                                      if l.startswith("asynchat-cpp-plaintext/")))
    a.peers = [p for p, l in suite.peer_labels.items() if l in labels]


def ab_available(a, by_label):
    """--ab's implementations in its order, each of which the suite set up (as runnable or with the reason it
    cannot run)."""
    missing = [label for label in a.ab if label not in by_label]
    if missing:
        sys.exit("bench/run: --ab: no %s in this run (it has: %s)" % (", ".join(missing), ", ".join(by_label)))
    return [by_label[label] for label in a.ab]


def spread(values):
    """(min, lower quartile, upper quartile, max) of the per-round ratios."""
    if len(values) < 2:
        return values[0], values[0], values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return min(values), q1, q3, max(values)


def ab_row(a, suite, case, subject, ref, reasons, per):
    """The CSV row of one case and one reference: the ratio subject ÷ reference of each figure taken within every
    round both completed, their median and spread, and each one's own median over its rounds."""
    row = dict.fromkeys(suite.ab_columns(), "")
    row.update(zip(["subject", "reference"] + suite.case_columns, [subject, ref] + suite.case_values(case)))
    row.update({"rounds": 0, "errors": per[subject]["errors"] + per[ref]["errors"],
                "goal_%s_ratio" % suite.word: "" if a.goal_msgs is None else a.goal_msgs,
                "goal_cpu_ratio": "" if a.goal_cpu is None else a.goal_cpu})
    mine, theirs = set(per[subject]["notes"]), set(per[ref]["notes"])
    notes = ["both: " + n for n in mine & theirs] + ["%s: %s" % (subject, n) for n in mine - theirs] + [
        "%s: %s" % (ref, n) for n in theirs - mine]
    reason = reasons[subject] or reasons[ref]
    if reason:
        row["note"] = "%s: %s" % (subject if reasons[subject] else ref, reason)
        return row
    s, r = per[subject]["rounds"], per[ref]["rounds"]
    paired = sorted(set(s) & set(r))

    def figure(rows, key):
        return float(rows[key]) if rows.get(key) not in (None, "") else None

    for side, rounds in (("subject", s), ("reference", r)):
        rates = [figure(x, suite.rate) for x in rounds.values()]
        cpus = [c for c in (figure(x, suite.cpu) for x in rounds.values()) if c is not None]
        if rates:
            row["%s_%s" % (side, suite.rate)] = "%.0f" % statistics.median(rates)
        if cpus:
            row["%s_cpu_us_per_%s" % (side, suite.unit)] = "%.3f" % statistics.median(cpus)
    ratios = {suite.word: [], "cpu": []}
    for k in paired:
        for what, key in ((suite.word, suite.rate), ("cpu", suite.cpu)):
            num, den = figure(s[k], key), figure(r[k], key)
            if num is not None and den:
                ratios[what].append(num / den)
    for what, values in ratios.items():
        if values:
            row[what + "_ratio"] = "%.3f" % statistics.median(values)
            for name, v in zip(("min", "q1", "q3", "max"), spread(values)):
                row["%s_ratio_%s" % (what, name)] = "%.3f" % v
    row["rounds"] = len(paired)
    others = [figure(x[k], "other_cpu_pct") for x in (s, r) for k in paired]
    others = [o for o in others if o is not None]
    row["other_cpu_pct_max"] = "%.1f" % max(others) if others else ""
    if not paired:
        notes.append("no round in which both completed")
    missed = []
    if a.goal_msgs is not None and row[suite.word + "_ratio"]:
        missed += [] if float(row[suite.word + "_ratio"]) >= a.goal_msgs else [suite.word + "/s"]
    if a.goal_cpu is not None and row["cpu_ratio"]:
        missed += [] if float(row["cpu_ratio"]) <= a.goal_cpu else ["CPU"]
    if (a.goal_msgs is not None or a.goal_cpu is not None) and paired:
        row["verdict"] = "missed: " + ", ".join(missed) if missed else "met"
    row["note"] = " | ".join(sorted(set(notes)))
    return row


class AbReport:
    """The session's CSV (`path`, written case by case; None: no CSV, as when reading --from-raw without --out)
    and, at the end, its table on stdout."""
    def __init__(self, a, suite, labels, path):
        self.a, self.suite, self.labels = a, suite, labels
        self.rows = []
        self.csv = CsvFile(path, suite.ab_columns())

    def add(self, case, reasons, per):
        subject = self.labels[0]
        for ref in self.labels[1:]:
            row = ab_row(self.a, self.suite, case, subject, ref, reasons, per)
            row["case"] = self.suite.describe(case)
            self.rows.append(row)
            self.csv.row(row)
            print("    %s vs %s: %s/s ratio %s, CPU ratio %s (%d rounds)%s" % (
                row["case"], ref, self.suite.word, row[self.suite.word + "_ratio"] or "-", row["cpu_ratio"] or "-",
                row["rounds"], ", " + row["verdict"] if row["verdict"] else ""), file=sys.stderr, flush=True)

    def close(self):
        self.csv.close()

    def failed(self):
        return any(int(r["errors"]) for r in self.rows)

    def print_table(self):
        a, suite, subject = self.a, self.suite, self.labels[0]
        word, unit = suite.word, suite.unit
        goals = a.goal_msgs is not None or a.goal_cpu is not None

        def ratio(row, what):
            if not row[what + "_ratio"]:
                return "-"
            return "%.2f× (%.2f–%.2f)" % tuple(float(row[what + "_ratio" + s]) for s in ("", "_min", "_max"))

        def own(row, side):
            rate, cpu = row["%s_%s" % (side, suite.rate)], row["%s_cpu_us_per_%s" % (side, unit)]
            if not rate:
                return "-"
            return "%s (%s)" % (rate_text(float(rate)), "%.3g" % float(cpu) if cpu else "-")

        goal_text = ", ".join(t for t in (
            "%s/s ≥ %g×" % (word, a.goal_msgs) if a.goal_msgs is not None else "",
            "CPU/%s ≤ %g×" % (unit, a.goal_cpu) if a.goal_cpu is not None else "") if t)
        counts = sorted({r["rounds"] for r in self.rows if r["rounds"]}) or [0]
        rounds = "%d" % counts[0] if len(counts) == 1 else "%d–%d" % (counts[0], counts[-1])
        how = ("the rounds of %s" % a.from_raw) if a.from_raw else "the order rotating round by round"
        print("A/B session (%s): %s ÷ each reference, %s rounds per case, %s; median of the per-round ratios "
              "(min–max). %s/s: higher is better for %s; server CPU per %s: lower.%s" % (
                  suite.name, subject, rounds, how, word, subject, unit, (" Goals: %s." % goal_text) if goals else ""))
        print()
        head = ["case", "reference", "%s/s ratio" % word, "CPU/%s ratio" % unit,
                "%s %s/s (µs/%s)" % (subject, word, unit), "reference %s/s (µs/%s)" % (word, unit), "rounds"]
        print("| " + " | ".join(head + (["verdict"] if goals else []) + ["note"]) + " |")
        print("|" + "---|" * (len(head) + goals + 1))
        for row in self.rows:
            cells = [row["case"], row["reference"], ratio(row, word), ratio(row, "cpu"), own(row, "subject"),
                     own(row, "reference"), str(row["rounds"])] + ([row["verdict"]] if goals else []) + [row["note"]]
            print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")


def ab_session(a, suite, impls, matrix, skip, run_once, log):
    """The A/B session: for each case, --runs rounds; in each round every implementation runs once, the first in
    round r being the (r mod n)-th, so that none always goes first; the ratios come per round. impls: --ab's
    Impls, the subject first."""
    labels = [impl.label for impl in impls]
    subject = labels[0]
    if impls[0].reason:
        sys.exit("bench/run: --ab: the subject %s cannot run: %s" % (subject, impls[0].reason))
    for impl in impls[1:]:
        if impl.reason:
            print("bench/run: --ab: %s cannot run (its rows say why): %s" % (impl.label, impl.reason),
                  file=sys.stderr)
    plan = []
    for case in matrix:
        reasons = {impl.label: impl.reason or skip(impl, case) for impl in impls}
        live = [i for i, label in enumerate(labels) if reasons[label] is None]
        plan.append((case, reasons, live if reasons[subject] is None and len(live) > 1 else []))
    total = sum(a.runs * len(live) for _, _, live in plan)
    report = AbReport(a, suite, labels, a.out)
    started, budget, done = time.monotonic(), Budget(a.extra_time), 0
    for case, reasons, live in plan:
        per = {label: {"rounds": {}, "errors": 0, "notes": []} for label in labels}
        for r in range(a.runs if live else 0):
            turn = r % len(live)
            for i in live[turn:] + live[:turn]:
                impl = impls[i]
                done += 1
                progress(done, total, started, "A/B round %d/%d: %s, %s" % (r + 1, a.runs, impl.label,
                                                                            suite.describe(case)))
                row, errors, note = run_once(impl, case, r + 1, budget)
                p = per[impl.label]
                p["errors"] += errors
                if note:
                    p["notes"].append(note)
                if row:
                    p["rounds"][r + 1] = row
        report.add(case, reasons, per)
    report.close()
    if report.failed():
        print_server_log(log)
    print_finished(done, started, a.out)
    report.print_table()
    return 1 if report.failed() else 0


def ab_from_raw(a, suite):
    """--ab with --from-raw: the rounds of an earlier session's --raw file (impl, backend, the case, run and the
    measured columns), the table printed and, with --out, the CSV written. Nothing runs."""
    try:
        with open(a.from_raw, newline="") as f:
            lines = list(csv.DictReader(f))
    except OSError as e:
        sys.exit("bench/run: --from-raw: %s" % e)
    if not lines or suite.rate not in lines[0] or "run" not in lines[0]:
        sys.exit("bench/run: %s is not a --raw file of the %s suite (no %s or run column)" % (
            a.from_raw, suite.name, suite.rate))
    cases, per_case = [], {}
    for line in lines:
        case = suite.case_from_raw(line)
        if case not in per_case:
            cases.append(case)
            per_case[case] = {label: {"rounds": {}, "errors": 0, "notes": []} for label in a.ab}
        label = "%s/%s" % (line["impl"], line["backend"])
        if label in per_case[case]:
            p = per_case[case][label]
            p["rounds"][int(line["run"])] = line
            p["errors"] += int(line.get("errors") or 0)
    if not any(per_case[c][a.ab[0]]["rounds"] for c in cases):
        sys.exit("bench/run: %s has no run of %s" % (a.from_raw, a.ab[0]))
    report = AbReport(a, suite, a.ab, a.out if a.out_given else None)
    for case in cases:
        reasons = {label: None if per_case[case][label]["rounds"] else "not in %s" % os.path.basename(a.from_raw)
                   for label in a.ab}
        report.add(case, reasons, per_case[case])
    report.close()
    report.print_table()
    return 1 if report.failed() else 0
