#!/usr/bin/env python3
"""A scriptable HTTP/1.1 server for the transport tests (src/aws/http_client_test.cc).

Listens on 127.0.0.1, port 0 (or --port), prints "PORT <n>" on stdout once it accepts, and exits
when its stdin closes, so a test that dies never leaves it behind. Python 3.11 stdlib only.

Paths (query parameters in brackets):
  /hello                     200 "hello"
  /echo                      200; the body is "<METHOD> <path>\\n", one "<name>: <value>\\n" per
                             request header in arrival order, "\\n", then the request body; response
                             headers X-Echo-Method and X-Multi twice ("a", "b")
  /status/<code>             that status, body "status <code>"
  /chunked[count,delay_ms]   chunked body "chunk-0;chunk-1;...", each chunk flushed on its own
  /stall[ms]                 headers with Content-Length 100, 10 bytes, then silence for ms
  /delay[ms]                 silence for ms, then 200 "done"
  /connections               200, the number of TCP connections accepted so far
"""

import argparse
import http.server
import os
import sys
import threading
import time
import urllib.parse


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # A burst of concurrent connects must not overflow the listen backlog (default 5).
    request_queue_size = 1024

    def __init__(self, address):
        super().__init__(address, Handler)
        self.connections = 0
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        # A client that cancels or times out hangs up mid-response: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format, *args):  # quiet: the test output is for the tests
        pass

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def reply(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        path = url.path
        if path == "/hello":
            self.reply(200, b"hello")
        elif path == "/echo":
            text = f"{self.command} {self.path}\n"
            text += "".join(f"{name}: {value}\n" for name, value in self.headers.items())
            self.reply(200, text.encode() + b"\n" + body,
                       [("X-Echo-Method", self.command), ("X-Multi", "a"), ("X-Multi", "b")])
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            self.reply(code, f"status {code}".encode())
        elif path == "/chunked":
            count = int(query.get("count", "5"))
            delay = int(query.get("delay_ms", "0")) / 1000
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            for i in range(count):
                if delay:
                    time.sleep(delay)
                chunk = f"chunk-{i};".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            time.sleep(int(query.get("ms", "60000")) / 1000)
            self.close_connection = True
        elif path == "/delay":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self.reply(200, b"done")
        elif path == "/connections":
            with self.server.lock:
                count = self.server.connections
            self.reply(200, str(count).encode())
        else:
            self.reply(404, b"no such path")


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port))
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
