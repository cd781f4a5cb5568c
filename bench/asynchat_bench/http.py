"""The http suite (`bench/run http`): `asynchat serve http --root DIR` on every backend the binary lists beside
nginx and Python's http.server, under wrk. Writes bench/results/http.csv (--quick: http_quick.csv).

wrk (-t1 -c64, keep-alive, --latency) GETs one file over and over, a 1 KiB and a 1 MiB file made of random bytes in
a temporary directory, from `asynchat serve http --root DIR` on every backend the binary lists, nginx (one process,
sendfile on, access_log off) and Python's `http.server` (HTTP/1.1, so that it keeps connections alive; and
bench/peers/python_http_server.py, the same with TCP_NODELAY and no access log). Before the window, one GET of the
file is compared byte for byte with it; wrk's socket errors and non-2xx responses count as errors. Server CPU per
request: utime + stime of the server process over wrk's run, divided by the requests wrk completed. Default 5 s
windows after a 1 s warm-up, 3 runs (quick: 1 s, no warm-up, 1 run). A server that is missing (no nginx, an
asynchat without `serve http`) is a row with runs=0 and the reason in `note`.
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import common
from .common import Impl, Launch

COLUMNS = ["impl", "backend", "scenario", "connections", "size", "requests_per_s", "mb_per_s", "p50_us",
           "p99_us", "server_cpu_us_per_req", "errors", "runs",
           "rps_spread_pct", "client_cpu_us_per_req", "other_cpu_pct", "note"]
PEERS = ["nginx", "python-http.server", "python-http.server-nodelay"]
PEER_LABELS = {"nginx": "nginx/epoll", "python-http.server": "python-http.server/threads",
               "python-http.server-nodelay": "python-http.server/threads-nodelay"}
RAW_KEYS = ["requests", "requests_per_s", "mb_per_s", "p50_us", "p99_us", "server_cpu_us_per_req",
            "client_cpu_us_per_req", "other_cpu_pct", "errors"]


def add_options(ap):
    """The options of the http suite's load generator (the tls suite's too)."""
    ap.add_argument("--threads", type=int, default=1, help="http: wrk's -t (default %(default)s)")
    ap.add_argument("--wrk", default="wrk", help="http, tls: the wrk binary (default: wrk on PATH)")


def check_wrk_args(ap, a):
    """What the http and tls suites check of the options they share."""
    # wrk takes whole seconds
    if a.duration != int(a.duration) or a.warmup != int(a.warmup):
        ap.error("http: --duration and --warmup are whole seconds (wrk's -d)")
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    if any("=" not in v for v in a.also_asynchat):
        ap.error("--also-asynchat takes NAME=PATH")


def file_name(size):
    return {1024: "1k.bin", 1048576: "1m.bin"}.get(size, "%d.bin" % size)


class HttpSuite(common.Suite):
    name = "http"
    columns = COLUMNS
    rate, cpu, unit, spread = "requests_per_s", "server_cpu_us_per_req", "req", "rps_spread_pct"
    # wrk keeps one request in flight per connection and opens no idle ones: the echo suite's idle 0, depth 1.
    case_columns = ["scenario", "connections", "size"]
    peers, peer_labels = PEERS, PEER_LABELS
    duration, warmup = (5.0, 1.0), (1.0, 0.0)
    build_targets = ["asynchat"]
    rate_suffix = " req/s"
    ab_names_help = ", asynchat-cpp+NAME/BACKEND for each --also-asynchat NAME=PATH"
    variants = True

    # A case is (connections, file size).
    def case_values(self, case):
        return ["http", case[0], case[1]]

    def describe(self, case):
        return "%s, %d conns" % (file_name(case[1]), case[0])

    def progress(self, case):
        return "http conns=%d file=%s" % (case[0], file_name(case[1]))

    def summary(self, case):
        return " " + file_name(case[1])

    def case_from_raw(self, line):
        return (int(line["connections"]), int(line["size"]))

    def check_args(self, ap, a):
        check_wrk_args(ap, a)
        if a.echo_connections or a.echo_sizes or a.plaintext_backends is not None:
            ap.error("--echo-connections, --echo-sizes and --plaintext-backends are for the tls suite")

    def run(self, a):
        return main(a)


SUITE = HttpSuite()


# nginx as its own documentation tunes a static file server, cut to one process so that it competes with our one
# thread on equal terms: no master, one worker (the process itself), sendfile, no access log, and keep-alive for as
# many requests as wrk makes. The temp paths are the build's /var/lib/nginx ones otherwise, which may not exist.
NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
%(user)s
error_log stderr;
pid %(dir)s/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush off;
    keepalive_requests 100000;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    server {
        listen 127.0.0.1:%(port)d%(ssl)s;
        root %(root)s;%(tls)s
    }
}
"""


def find_nginx():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def nginx_launch(nginx, conf_dir, root, env=None, tls_directives=""):
    """nginx serving `root`: each start writes its configuration (NGINX_CONF, with the tls suite's ssl directives)
    for a free port in conf_dir."""
    os.makedirs(conf_dir, exist_ok=True)

    def config(port):
        conf = os.path.join(conf_dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"user": "user root;" if os.geteuid() == 0 else "", "dir": conf_dir, "root": root,
                                  "port": port, "ssl": " ssl" if tls_directives else "", "tls": tls_directives})
        return ["-p", conf_dir, "-e", "stderr", "-c", conf]
    return Launch([nginx], env=env, config=config)


def python_http_server_protocol():
    """HTTP/1.1 when this Python's http.server takes --protocol (3.11 and later): with the default HTTP/1.0 it
    closes the connection after every response, and wrk would measure connection set-up instead."""
    r = subprocess.run([sys.executable, "-m", "http.server", "--help"], capture_output=True, text=True, timeout=30)
    return "HTTP/1.1" if "--protocol" in r.stdout else None


def implementations(a, asynchat, root, tmp):
    out = ours(a, "asynchat-cpp", asynchat, root)
    for variant in a.also_asynchat:
        name, path = variant.split("=", 1)
        out += ours(a, "asynchat-cpp+" + name, path, root)
    out += peers(a, root, tmp)
    return out


def ours(a, impl, asynchat, root):
    """`asynchat serve http` of one binary on each backend (--backends, or every backend it lists)."""
    out = []
    ok = os.access(asynchat, os.X_OK)
    listed = common.listed_backends(asynchat, "http") if ok else None
    if listed is None:
        reason = ("not measured: %s has no `serve http` subcommand" % asynchat) if ok else (
            "not measured: %s is missing" % asynchat)
        names = [b for b in a.backends.split(",") if b] if a.backends else (
            (common.listed_backends(asynchat, "echo") or ["epoll"]) if ok else ["epoll"])
        out += [Impl(impl, b, reason=reason) for b in names]
    else:
        wanted = listed if not a.backends else [b for b in a.backends.split(",") if b]
        for b in wanted:
            if b in listed:
                out.append(Impl(impl, b, {"http": Launch([asynchat, "serve", "http", "--root", root, "--backend",
                                                          b])}))
            else:
                out.append(Impl(impl, b, reason="backend not registered in this build (has: %s)" % ",".join(listed)))
    return out


def peers(a, root, tmp):
    out = []
    for p in a.peers:
        if p == "nginx":
            nginx = find_nginx()
            out.append(Impl("nginx", "epoll", {"http": nginx_launch(nginx, os.path.join(tmp, "nginx"), root)})
                       if nginx else Impl("nginx", "epoll", reason="nginx not installed (Debian: nginx-light)"))
        elif p == "python-http.server":
            protocol = python_http_server_protocol()
            argv = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root]
            # SIGINT: http.server's main catches KeyboardInterrupt and exits 0; SIGTERM would kill it with -15.
            out.append(Impl("python-http.server", "threads" + ("" if protocol else "-http1.0"),
                            {"http": Launch(argv + (["--protocol", protocol] if protocol else []), port_args=("0",),
                                            stop_signal=signal.SIGINT)}))
        elif p == "python-http.server-nodelay":
            script = os.path.join(common.ROOT, "bench", "peers", "python_http_server.py")
            out.append(Impl("python-http.server", "threads-nodelay",
                            {"http": Launch([sys.executable, script, "--directory", root])}))
    return out


def check_get(port, name, expected, tls=None):
    """One GET of the file, compared byte for byte: a server that answers fast with the wrong body (or a 404) must
    not pass for a fast one. tls: a TlsCheck, for HTTPS and the suite the server chose. Returns None when it is
    right, else what was wrong."""
    try:
        if tls:
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=tls.context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        c.request("GET", "/" + name)
        r = c.getresponse()
        body = r.read()
        bad = tls.check(c.sock) if tls else None
        c.close()
        if bad:
            return bad
    except (OSError, http.client.HTTPException) as e:
        return "GET /%s failed: %s" % (name, e)
    if r.status != 200:
        return "GET /%s: status %d" % (name, r.status)
    if body != expected:
        return "GET /%s: body of %d bytes differs from the file (%d bytes)" % (name, len(body), len(expected))
    return None


UNITS_TIME = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_wrk(out):
    """wrk --latency's report: requests, requests/s, transfer/s (binary units, turned into 10^6 bytes/s), latency
    p50/p99 in µs, socket errors and non-2xx/3xx responses. None when the report is not there."""
    m_req = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", out, re.M)
    m_rps = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    m_tps = re.search(r"^Transfer/sec:\s*([\d.]+)([KMGT]?B)", out, re.M)
    lat = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+(?:us|ms|s|m|h))\s*$", out, re.M))
    if not (m_req and m_rps and m_tps and "50" in lat and "99" in lat):
        return None

    def us(text):
        m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
        return float(m.group(1)) * UNITS_TIME[m.group(2)]
    m_sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    m_status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = [int(x) for x in m_sock.groups()] if m_sock else [0, 0, 0, 0]
    return {"requests": int(m_req.group(1)), "requests_per_s": float(m_rps.group(1)),
            "mb_per_s": float(m_tps.group(1)) * UNITS_BYTES[m_tps.group(2)] / 1e6,
            "p50_us": us(lat["50"]), "p99_us": us(lat["99"]), "socket_errors": sock,
            "non_2xx": int(m_status.group(1)) if m_status else 0}


def one_http_run(a, launch, conns, name, expected, log, tls=None, close=False, env=None):
    """One server (a Launch), an optional warm-up wrk, then the measured wrk. The tls suite: tls (a TlsCheck) makes
    it HTTPS, close sends every request with `Connection: close` (a new connection each), env is wrk's environment.
    Returns (row dict or None, errors, note)."""
    try:
        server = launch.start(a.pin.server, log)
    except (RuntimeError, OSError) as e:
        return None, 1, str(e)
    notes, row = [], None
    try:
        bad = check_get(server.port, name, expected, tls)
        if bad:
            notes.append(bad)
        else:
            # --timeout: a slow server (Python at 1 MiB) is slow, not failing; wrk's default of 2 s would count its
            # queued requests as errors.
            wrk = a.pin.client + [a.wrk, "-t", str(a.threads), "-c", str(conns), "--timeout", "10s", "--latency"] + (
                ["-H", "Connection: close"] if close else [])
            url = "%s://127.0.0.1:%d/%s" % ("https" if tls else "http", server.port, name)
            if a.warmup > 0:
                subprocess.run(wrk + ["-d", "%ds" % a.warmup, url], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=a.warmup + 60, env=env)
            s0, c0 = common.process_cpu_us(server.proc.pid), common.children_cpu_us()
            m0, t0 = common.machine_busy_us(), time.monotonic()
            try:
                r = subprocess.run(wrk + ["-d", "%ds" % a.duration, url], capture_output=True, text=True,
                                   timeout=a.duration + 60, env=env)
                out, err, rc = r.stdout, r.stderr, r.returncode
            except subprocess.TimeoutExpired:
                out, err, rc = "", "timed out", -1
            s1, c1 = common.process_cpu_us(server.proc.pid), common.children_cpu_us()
            m1, t1 = common.machine_busy_us(), time.monotonic()
            parsed = parse_wrk(out) if rc == 0 else None
            if rc != 0:
                first = err.strip().splitlines()[:1]
                notes.append("wrk exit %d%s" % (rc, (": " + first[0]) if first else ""))
            elif parsed is None:
                notes.append("wrk printed no report")
            elif parsed["requests"] == 0:
                notes.append("no request completed")
            else:
                n = parsed["requests"]
                server_cpu = (s1 - s0) if s0 is not None and s1 is not None else None
                client_cpu = c1 - c0
                other = max(m1 - m0 - client_cpu - (server_cpu or 0), 0.0) / ((t1 - t0) * 1e6) * 100
                sock = parsed["socket_errors"]
                row = {"requests_per_s": "%.0f" % parsed["requests_per_s"], "mb_per_s": "%.2f" % parsed["mb_per_s"],
                       "p50_us": "%.1f" % parsed["p50_us"], "p99_us": "%.1f" % parsed["p99_us"],
                       "server_cpu_us_per_req": "%.3f" % (server_cpu / n) if server_cpu is not None else "",
                       "client_cpu_us_per_req": "%.3f" % (client_cpu / n), "other_cpu_pct": "%.1f" % other,
                       "requests": str(n), "errors": str(sum(sock) + parsed["non_2xx"])}
                if sum(sock):
                    notes.append("socket errors: connect %d, read %d, write %d, timeout %d" % tuple(sock))
                if parsed["non_2xx"]:
                    notes.append("%d non-2xx/3xx responses" % parsed["non_2xx"])
                if server_cpu is None:
                    notes.append("no /proc/PID/stat for the server")
    finally:
        alive = server.proc.poll() is None
        stop_note = server.stop()
    if not alive:
        notes.append("server died during the run")
    elif stop_note:
        notes.append(stop_note)
    errors = int(row["errors"]) if row else 1
    if notes and errors == 0:
        errors = 1
    return row, errors, " | ".join(notes)


def write_files(root, sizes):
    """The files the servers serve, made of random bytes under root, one per size: {size: contents}."""
    os.makedirs(root)
    contents = {}
    for size in sizes:
        contents[size] = os.urandom(size)
        with open(os.path.join(root, file_name(size)), "wb") as out:
            out.write(contents[size])
    return contents


def main(a):
    wrk = shutil.which(a.wrk)
    if not wrk:
        sys.exit("bench/run: wrk not found (Debian: wrk); the http suite needs it as its load generator")
    a.wrk = wrk
    sizes = common.int_list(a.sizes, [1024, 1048576])
    counts = common.int_list(a.connections, [64])
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        root = os.path.join(tmp, "root")
        contents = write_files(root, sizes)
        impls = implementations(a, common.asynchat_path(a), root, tmp)
        return common.run_suite(a, SUITE, impls, [(conns, size) for size in sizes for conns in counts],
                                skip=lambda impl, case: impl.reason,
                                measure=lambda impl, case, log: one_http_run(
                                    a, impl.servers["http"], case[0], file_name(case[1]), contents[case[1]], log),
                                raw_keys=RAW_KEYS)
