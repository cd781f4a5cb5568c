"""The tls suite (`bench/run tls`): `asynchat serve http` and `asynchat serve echo` over TLS on every backend the
binary lists, beside nginx over HTTPS and our own servers without TLS. Writes bench/results/tls.csv (--quick:
tls_quick.csv).

`asynchat serve http --tls-cert C --tls-key K` on every backend the binary lists beside nginx (one process,
`listen ... ssl`, the same certificate) under wrk: "https", 1 KiB keep-alive requests (-t1 -c64); "https-close",
the same with `Connection: close`, so that every request is a new TCP connection and a full TLS handshake; and
"echo", `asynchat serve echo --terminator '\\n'` over TLS (bench_loadgen --tls), 16 KiB ping-pong at 10 and 100
connections. asynchat-cpp-plaintext/BACKEND (--plaintext-backends, default epoll) is the same command without TLS
in every case, the reference of the echo goal. The certificate (EC P-256, self-signed for 127.0.0.1) is made at
run time in a temporary directory; one OpenSSL configuration file, given to every server and client as
OPENSSL_CONF, allows TLS 1.3 with --ciphersuite (default TLS_AES_128_GCM_SHA256) and --group (default X25519)
only, and no session tickets on either server (NumTickets 0: no resumption, every new connection a full
handshake); nginx's configuration says the same with its own directives. Before each run the session is checked
(Python's ssl: TLS 1.3, the suite, no ticket, the certificate verifies; `openssl s_client`: the group), and the
CSV's tls column says what was negotiated. An op is a request (https), a connection with its one request
(https-close) or an echoed message (echo): ops_per_s, server_cpu_us_per_op. --ab names as in the CSV
(asynchat-cpp/epoll, asynchat-cpp-plaintext/epoll, nginx).
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

from . import common, echo, http
from .common import Impl, Launch

COLUMNS = ["impl", "backend", "scenario", "connections", "size", "ops_per_s", "mb_per_s", "p50_us", "p99_us",
           "server_cpu_us_per_op", "errors", "runs",
           "ops_spread_pct", "client_cpu_us_per_op", "other_cpu_pct", "tls", "note"]
SCENARIOS = ("https", "https-close", "echo")
PEERS = ["nginx"]
PEER_LABELS = {"nginx": "nginx/epoll"}
RAW_KEYS = ["ops", "ops_per_s", "mb_per_s", "p50_us", "p99_us", "server_cpu_us_per_op", "client_cpu_us_per_op",
            "other_cpu_pct", "errors", "tls"]


def add_options(ap):
    ap.add_argument("--echo-connections", help="tls: comma-separated connection counts of the echo case (default "
                                               "10,100; quick 10)")
    ap.add_argument("--echo-sizes", help="tls: comma-separated message sizes of the echo case (default 16384)")
    ap.add_argument("--plaintext-backends", help="tls: the backends also measured without TLS, as the plaintext "
                                                 "reference (impl asynchat-cpp-plaintext; default epoll)")
    ap.add_argument("--ciphersuite", default="TLS_AES_128_GCM_SHA256",
                    help="tls: the one TLS 1.3 cipher suite every server (and client) is allowed (default "
                         "%(default)s)")
    ap.add_argument("--group", default="X25519",
                    help="tls: the one key exchange group allowed (default %(default)s)")


def case_text(case):
    scenario, conns, size = case
    if scenario == "https":
        return "HTTPS %s keep-alive, %d conns" % (common.size_text(size), conns)
    if scenario == "https-close":
        return "HTTPS %s, a new connection per request, %d conns" % (common.size_text(size), conns)
    return "echo %s ping-pong, %d conns" % (common.size_text(size), conns)


def as_op_row(row, count, rate, unit):
    """An echo or HTTP run's row in the tls suite's columns: its messages or requests are the suite's ops."""
    return {"ops": row[count], "ops_per_s": row[rate], "mb_per_s": row["mb_per_s"], "p50_us": row["p50_us"],
            "p99_us": row["p99_us"], "server_cpu_us_per_op": row["server_cpu_us_per_" + unit],
            "client_cpu_us_per_op": row["client_cpu_us_per_" + unit], "other_cpu_pct": row["other_cpu_pct"],
            "errors": row["errors"]}


class TlsSuite(common.Suite):
    name = "tls"
    columns = COLUMNS
    rate, cpu, unit, spread = "ops_per_s", "server_cpu_us_per_op", "op", "ops_spread_pct"
    # A case is (scenario, connections, size).
    case_columns = ["scenario", "connections", "size"]
    peers, peer_labels = PEERS, PEER_LABELS
    duration, warmup = (5.0, 1.0), (1.0, 0.0)
    build_targets = ["asynchat", "bench_loadgen"]
    ab_names_help = (", asynchat-cpp-plaintext/BACKEND, asynchat-cpp+NAME/BACKEND for each --also-asynchat "
                     "NAME=PATH")
    variants = plaintext = True

    def describe(self, case):
        return case_text(case)

    def case_from_raw(self, line):
        return (line["scenario"], int(line["connections"]), int(line["size"]))

    def check_args(self, ap, a):
        http.check_wrk_args(ap, a)
        a.scenarios = [x for x in (a.scenarios or ",".join(SCENARIOS)).split(",") if x]
        bad = [x for x in a.scenarios if x not in SCENARIOS]
        if bad:
            ap.error("unknown tls scenario %s (known: %s)" % (", ".join(bad), ", ".join(SCENARIOS)))
        if a.plaintext_backends is None:
            a.plaintext_backends = "" if a.ab else "epoll"

    def run(self, a):
        return main(a)


SUITE = TlsSuite()


# One OpenSSL configuration for every process of a run — our server, nginx, wrk, bench_loadgen — given to each as
# OPENSSL_CONF, so that the two servers cannot differ in what they allow: the system_default section applies to
# every SSL_CTX the process creates (it is how Debian sets its own defaults). TLS 1.3 only, one cipher suite, one
# key exchange group, and no session tickets (NumTickets 0): with no ticket a TLS 1.3 session cannot be resumed, so
# every new connection is a full handshake on both servers, and neither spends anything on issuing tickets.
# asynchat::tls sets its minimum to TLS 1.2 itself, after this file, so ours would still accept a TLS 1.2 client
# where nginx refuses one; CipherString keeps even such a session on AES-128-GCM. No client of the suite offers
# TLS 1.2 (they get MinProtocol TLSv1.3 from this file too), and every run checks the session it got.
OPENSSL_CONF = """openssl_conf = bench_init
[bench_init]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_tls
[bench_tls]
MinProtocol = TLSv1.3
MaxProtocol = TLSv1.3
Ciphersuites = %(suite)s
CipherString = ECDHE-ECDSA-AES128-GCM-SHA256
Groups = %(group)s
NumTickets = 0
"""

# nginx's ssl directives, saying the same as the configuration file above in nginx's own terms (either alone would
# do; both make sure). sendfile stays on in the configuration and is not used: nginx does not sendfile on a TLS
# connection without kTLS, which it only enables on request.
NGINX_TLS = """
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        ssl_protocols TLSv1.3;
        ssl_ecdh_curve %(group)s;
        ssl_conf_command Ciphersuites %(suite)s;
        ssl_conf_command NumTickets 0;
        ssl_session_tickets off;
        ssl_session_cache off;"""


def make_certificate(tmp):
    """A self-signed EC P-256 certificate for 127.0.0.1 and localhost, made now (no key is ever committed)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench/run: openssl req failed:\n" + r.stderr[-2000:])
    return cert, key


class TlsCheck:
    """What every TLS run checks before its load: the server's certificate verifies (ours, for 127.0.0.1), the
    session is TLS 1.3 with the pinned cipher suite, no session ticket came with it, and (`openssl s_client`) the key
    exchange used the pinned group. `seen` keeps the last session's description for the CSV."""
    def __init__(self, a, cert):
        self.a, self.cert, self.seen = a, cert, ""
        self.s_client = shutil.which("openssl")

    def context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        # The pinned suite may be outside this Python's own defaults: offer every TLS 1.3 suite.
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        return ctx

    def check(self, sock):
        """The session of a socket that has done its exchange (so a ticket would have arrived): None or why not."""
        version, cipher = sock.version(), sock.cipher()[0]
        if version != "TLSv1.3" or cipher != self.a.ciphersuite:
            return "negotiated %s %s, not TLSv1.3 %s" % (version, cipher, self.a.ciphersuite)
        if sock.session is not None and sock.session.has_ticket:
            return "the server issued a session ticket (resumption must be off on every server)"
        group = self.group(sock.getpeername()[1])
        if group is not None and group != self.a.group:
            return "key exchange group %s, not %s" % (group, self.a.group)
        self.seen = "%s %s %s" % (version, cipher, group or "(group not checked: no openssl command)")
        return None

    def group(self, port):
        """`Server Temp Key` of one `openssl s_client` handshake: Python's ssl does not say which group was used."""
        if not self.s_client:
            return None
        try:
            r = subprocess.run([self.s_client, "s_client", "-connect", "127.0.0.1:%d" % port, "-brief"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return "unknown (openssl s_client timed out)"
        m = re.search(r"(?:Server|Peer) Temp Key: ([^,\s]+)", r.stdout + r.stderr)
        return m.group(1) if m else "unknown (openssl s_client: %s)" % (r.stderr.strip().splitlines() or ["?"])[-1]

    def echo(self, port):
        """One line echoed over TLS, then the session checked: None or what was wrong."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
                with self.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    line = b"bench/run tls check\n"
                    s.sendall(line)
                    got = b""
                    while len(got) < len(line):
                        chunk = s.recv(len(line) - len(got))
                        if not chunk:
                            break
                        got += chunk
                    if got != line:
                        return "the echo check got %r back for %r" % (got, line)
                    return self.check(s)
        except (OSError, ssl.SSLError) as e:
            return "TLS echo check failed: %s" % e


def implementations(a, asynchat, root, tmp, cert, key, env):
    """Ours over TLS (asynchat-cpp), ours without it (asynchat-cpp-plaintext, the reference of the echo case), the
    --also-asynchat builds over TLS, and nginx (HTTPS only). Each Impl has an "http" server for the HTTPS cases and
    an "echo" server for the echo case, or not."""
    out = ours(a, asynchat, root, cert, key, env, "asynchat-cpp", a.backends, True)
    out += ours(a, asynchat, root, cert, key, env, "asynchat-cpp-plaintext", a.plaintext_backends, False)
    # --also-asynchat NAME=PATH: another build (a patch of the layer, say) over TLS, in the same rounds.
    for variant in a.also_asynchat:
        name, path = variant.split("=", 1)
        out += ours(a, path, root, cert, key, env, "asynchat-cpp+" + name, a.backends, True)
    if "nginx" in a.peers:
        nginx = http.find_nginx()
        if nginx:
            directives = NGINX_TLS % {"cert": cert, "key": key, "suite": a.ciphersuite, "group": a.group}
            out.append(Impl("nginx", "epoll", {"http": http.nginx_launch(nginx, os.path.join(tmp, "nginx"), root,
                                                                         env, directives)}, tls=True))
        else:
            out.append(Impl("nginx", "epoll", reason="nginx not installed (Debian: nginx-light)", tls=True))
    return out


def ours(a, asynchat, root, cert, key, env, impl, names, tls):
    """asynchat serve http / serve echo of one binary on each backend of `names` (empty: every backend the binary
    lists when tls, none without), over TLS or not."""
    ok = os.access(asynchat, os.X_OK)
    listed = (common.listed_backends(asynchat, "echo") or []) if ok else []
    has_http = ok and common.listed_backends(asynchat, "http") is not None
    has_tls = ok and "--tls-cert" in subprocess.run([asynchat, "serve", "echo", "--help"], capture_output=True,
                                                    text=True, timeout=30).stdout
    extra = ["--tls-cert", cert, "--tls-key", key] if tls else []
    out = []
    wanted = [b for b in names.split(",") if b] if names else (listed if tls else [])
    for b in wanted:
        reason = None
        if not ok:
            reason = "not measured: %s is missing" % asynchat
        elif b not in listed:
            reason = "backend not registered in this build (has: %s)" % ",".join(listed)
        elif tls and not has_tls:
            reason = "not measured: %s was built without TLS (no --tls-cert)" % asynchat
        servers = {"echo": Launch([asynchat, "serve", "echo", "--backend", b, "--terminator", "\\n"] + extra,
                                  env=env)}
        if has_http:
            servers["http"] = Launch([asynchat, "serve", "http", "--root", root, "--backend", b] + extra, env=env)
        out.append(Impl(impl, b, servers, reason, tls=tls))
    return out


def skip(impl, case):
    """Why an implementation cannot run a case: it cannot run at all, or it has no server for the case's kind."""
    if impl.reason:
        return impl.reason
    if case[0] == "echo" and "echo" not in impl.servers:
        return "not measured: %s is no line echo server" % impl.impl
    if case[0] != "echo" and "http" not in impl.servers:
        return "not measured: no HTTP server"
    return None


def cases(a):
    """(scenario, connections, size), in the order they run: HTTPS keep-alive, HTTPS with a new connection per
    request, then the echo."""
    sizes = common.int_list(a.sizes, [1024])
    counts = common.int_list(a.connections, [64])
    echo_counts = common.int_list(a.echo_connections, [10] if a.quick else [10, 100])
    echo_sizes = common.int_list(a.echo_sizes, [16384])
    out = []
    for scenario in ("https", "https-close"):
        if scenario in a.scenarios:
            out += [(scenario, conns, size) for size in sizes for conns in counts]
    if "echo" in a.scenarios:
        out += [("echo", conns, size) for size in echo_sizes for conns in echo_counts]
    return out


def one_run(a, impl, case, loadgen, header, contents, check, env, log):
    """One run of a tls case, through http.one_http_run (wrk) or echo.one_run (bench_loadgen); the row in the
    suite's terms: an op is a request (https), a connection with its one request (https-close), a message echoed
    (echo)."""
    scenario, conns, size = case
    tls = check if impl.tls else None
    if tls:
        tls.seen = ""
    if scenario == "echo":
        row, errors, note = echo.one_run(a, loadgen, header, impl.servers["echo"], ("pingpong", conns, 0, size, 1),
                                         log, env=env, loadgen_args=["--tls"] if tls else [],
                                         check=tls.echo if tls else None)
        row = row and as_op_row(row, "messages", "msgs_per_s", "msg")
    else:
        row, errors, note = http.one_http_run(a, impl.servers["http"], conns, http.file_name(size), contents[size],
                                              log, tls=tls, close=scenario == "https-close", env=env)
        row = row and as_op_row(row, "requests", "requests_per_s", "req")
    if row:
        row["tls"] = tls.seen if tls else "plaintext"
    return row, errors, note


def main(a):
    wrk = shutil.which(a.wrk)
    matrix = cases(a)
    if not wrk and any(c[0] != "echo" for c in matrix):
        sys.exit("bench/run: wrk not found (Debian: wrk); the tls suite's HTTPS cases need it")
    if not shutil.which("openssl"):
        sys.exit("bench/run: the openssl command is needed to make the certificate (Debian: openssl)")
    a.wrk = wrk
    loadgen = common.loadgen_path(a)
    header = None
    if any(c[0] == "echo" for c in matrix):
        if not os.access(loadgen, os.X_OK):
            sys.exit("bench/run: %s is missing (build it, or drop --no-build)" % loadgen)
        header = echo.loadgen_header(loadgen)
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        contents = http.write_files(os.path.join(tmp, "root"), sorted({c[2] for c in matrix if c[0] != "echo"}))
        cert, key = make_certificate(tmp)
        conf = os.path.join(tmp, "openssl.cnf")
        with open(conf, "w") as out:
            out.write(OPENSSL_CONF % {"suite": a.ciphersuite, "group": a.group})
        env = dict(os.environ, OPENSSL_CONF=conf)
        check = TlsCheck(a, cert)
        impls = implementations(a, common.asynchat_path(a), os.path.join(tmp, "root"), tmp, cert, key, env)
        print("bench/run tls: TLS 1.3 %s, group %s, no session tickets; OPENSSL_CONF=%s for every server and client" % (
            a.ciphersuite, a.group, conf), file=sys.stderr, flush=True)
        return common.run_suite(a, SUITE, impls, matrix, skip=skip,
                                measure=lambda impl, case, log: one_run(a, impl, case, loadgen, header, contents,
                                                                        check, env, log),
                                raw_keys=RAW_KEYS)
