"""Which Asio design for async_chat: the completion design ("asio") vs the readiness adapter ("asio-readiness"),
with epoll as the reference, side by side: interleaved runs, median of ROUNDS (default 5), server pinned to core
0 and the load generator to core 1. Writes CSV to stdout; bench/results/asio_designs.csv holds the last run.

    python3 bench/asio_designs.py [ROUNDS] > bench/results/asio_designs.csv
"""
import subprocess, statistics, sys, time, re, os, signal
BIN = os.environ.get("ASYNCHAT_BIN", "build/release/apps/asynchat/asynchat")
LOADGEN = os.environ.get("LOADGEN_BIN", "build/release/bench/bench_loadgen")
def run(backend, conns, size, depth):
    srv = subprocess.Popen(["taskset", "-c", "0", BIN, "serve", "echo", "--terminator", r"\n", "--backend", backend],
                           stdout=subprocess.PIPE, text=True)
    port = int(srv.stdout.readline().strip().rsplit(":", 1)[1])
    out = subprocess.run(["taskset", "-c", "1", LOADGEN, "--port", str(port), "--connections", str(conns), "--size",
                          str(size), "--depth", str(depth), "--warmup", "0.5", "--duration", "2", "--server-pid",
                          str(srv.pid)], capture_output=True, text=True).stdout.strip().split(",")
    srv.send_signal(signal.SIGTERM); srv.wait()
    return float(out[6]), float(out[10])  # msgs/s, server cpu us/msg
cases = [(10, 64, 1), (100, 64, 1), (1000, 64, 1), (100, 64, 16), (100, 16384, 1)]
backends = ["epoll", "asio", "asio-readiness"]
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
print("connections,size,depth,backend,msgs_per_s_median,server_cpu_us_per_msg_median,runs")
for c in cases:
    res = {b: [] for b in backends}
    for r in range(rounds):
        for b in backends:
            res[b].append(run(b, *c))
    for b in backends:
        print("%d,%d,%d,%s,%.0f,%.3f,%d" % (*c, b, statistics.median(x[0] for x in res[b]),
                                             statistics.median(x[1] for x in res[b]), rounds), flush=True)
