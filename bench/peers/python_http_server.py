"""Python's http.server (ThreadingHTTPServer + SimpleHTTPRequestHandler, a thread per connection) with the two
settings a user tuning it for keep-alive would change, for the http benchmark beside the stock
`python3 -m http.server --protocol HTTP/1.1`:

- TCP_NODELAY (`disable_nagle_algorithm`): the handler writes the headers and the body of a response with two
  `send`s; on a kept-alive connection Nagle's algorithm holds the second until the client acknowledges the first,
  and the client delays that ACK by ~40 ms, so the stock server answers one request per connection every ~44 ms.
- No access log (`log_message`), like nginx's `access_log off`.

    python3 python_http_server.py --directory DIR [--host 127.0.0.1] [--port 0]

Prints "listening on HOST:PORT" first; exits 0 on SIGINT/SIGTERM.
"""
import argparse
import functools
import http.server
import signal
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--directory", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    handler = functools.partial(Handler, directory=a.directory)
    with http.server.ThreadingHTTPServer((a.host, a.port), handler) as server:
        host, port = server.server_address[:2]
        print("listening on %s:%d" % (host, port), flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
