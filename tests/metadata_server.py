#!/usr/bin/env python3
"""Plays the AWS credential endpoints for the credential tests (src/aws/credentials_test.cc).

Listens on 127.0.0.1, port 0 (or --port), prints "PORT <n>" on stdout once it accepts, and exits
when its stdin closes, so a test that dies never leaves it behind. Python 3.11 stdlib only.

Each credentials response carries a counter, so a test sees whether it was fetched again:
AccessKeyId "<prefix><n>", SecretAccessKey "<secret>-<n>", session token "<token>-<n>", and
Expiration = --expiration + (n - 1) * --expiration-step seconds (n = 1, 2, ...).

Paths:
  GET  /container/...                 ECS/EKS container credentials (any path under /container).
                                      With --container-auth, requires that exact Authorization
                                      header (401 otherwise).
  PUT  /latest/api/token              IMDSv2 session token; requires the
                                      X-aws-ec2-metadata-token-ttl-seconds header (400 otherwise).
  GET  /latest/meta-data/iam/security-credentials/        the role name (--imds-role)
  GET  /latest/meta-data/iam/security-credentials/<role>  the role's credentials
                                      IMDS GETs require the issued token (401 otherwise) unless
                                      --imds-allow-v1.
  POST /sts/                          a canned STS reply: --sts-status and --sts-body.
  GET  /stats                         JSON: request counts per route, and the last Authorization
                                      header, IMDS token header and request body seen, for
                                      assertions.

Faults (for the error-path tests): --container-status/--container-body and
--imds-token-status/--imds-role-status/--imds-creds-status/--imds-creds-body replace the normal
reply with that status and body.
"""

import argparse
import datetime
import http.server
import json
import os
import sys
import threading
import urllib.parse

IMDS_TOKEN = "imds-session-token-1"
IMDS_CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, args):
        super().__init__(address, Handler)
        self.args = args
        self.lock = threading.Lock()
        self.counts = {}
        self.fetches = 0
        self.last_authorization = None
        self.last_imds_token = None
        self.last_body = None

    def count(self, route):
        with self.lock:
            self.counts[route] = self.counts.get(route, 0) + 1

    def next_credentials(self):
        with self.lock:
            self.fetches += 1
            n = self.fetches
        args = self.args
        expiration = datetime.datetime.strptime(args.expiration, "%Y-%m-%dT%H:%M:%SZ")
        expiration += datetime.timedelta(seconds=(n - 1) * args.expiration_step)
        return {
            "AccessKeyId": f"{args.access_key_prefix}{n}",
            "SecretAccessKey": f"{args.secret}-{n}",
            "Token": f"{args.token}-{n}",
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the test output is for the tests
        pass

    def do_GET(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_POST(self):
        self.route()

    def reply(self, status, body, content_type="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self):
        server = self.server
        args = server.args
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        if path != "/stats":  # asking for the stats must not change them
            with server.lock:
                server.last_authorization = self.headers.get("Authorization")
                server.last_body = body.decode("utf-8", "replace")
        if path == "/stats":
            with server.lock:
                stats = {
                    "counts": dict(server.counts),
                    "last_authorization": server.last_authorization,
                    "last_imds_token": server.last_imds_token,
                    "last_body": server.last_body,
                }
            self.reply(200, json.dumps(stats))
        elif path.startswith("/container"):
            server.count("container")
            if args.container_status:
                self.reply(args.container_status, args.container_body or "")
            elif args.container_auth and self.headers.get("Authorization") != args.container_auth:
                self.reply(401, '{"message": "bad authorization"}')
            else:
                creds = server.next_credentials()
                creds["RoleArn"] = "arn:aws:iam::123456789012:role/container-role"
                self.reply(200, args.container_body or json.dumps(creds))
        elif path == "/latest/api/token" and self.command == "PUT":
            server.count("imds_token")
            if args.imds_token_status:
                self.reply(args.imds_token_status, "", "text/plain")
            elif self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") is None:
                self.reply(400, "missing ttl", "text/plain")
            else:
                self.reply(200, IMDS_TOKEN, "text/plain")
        elif path.startswith(IMDS_CREDS_PREFIX) and self.command == "GET":
            token = self.headers.get("X-aws-ec2-metadata-token")
            with server.lock:
                server.last_imds_token = token
            role = path[len(IMDS_CREDS_PREFIX):]
            server.count("imds_creds" if role else "imds_role")
            status = args.imds_creds_status if role else args.imds_role_status
            if status:
                self.reply(status, args.imds_creds_body if role else "", "text/plain")
            elif token != IMDS_TOKEN and not args.imds_allow_v1:
                self.reply(401, "", "text/plain")
            elif not role:
                self.reply(200, args.imds_role, "text/plain")
            elif role != args.imds_role:
                self.reply(404, "", "text/plain")
            elif args.imds_creds_body is not None:
                self.reply(200, args.imds_creds_body)
            else:
                creds = server.next_credentials()
                creds.update({"Code": "Success", "Type": "AWS-HMAC",
                              "LastUpdated": "2025-01-01T00:00:00Z"})
                self.reply(200, json.dumps(creds))
        elif path.startswith("/sts"):
            server.count("sts")
            self.reply(args.sts_status, args.sts_body, "text/xml")
        else:
            self.reply(404, "no such path", "text/plain")


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--access-key-prefix", default="ASIAFAKE")
    parser.add_argument("--secret", default="fake-secret")
    parser.add_argument("--token", default="fake-session-token")
    parser.add_argument("--expiration", default="2025-01-01T01:00:00Z",
                        help="expiration of the first credentials, UTC, %%Y-%%m-%%dT%%H:%%M:%%SZ")
    parser.add_argument("--expiration-step", type=int, default=3600,
                        help="seconds each later fetch expires after the previous one")
    parser.add_argument("--container-auth", default=None)
    parser.add_argument("--container-status", type=int, default=0)
    parser.add_argument("--container-body", default=None)
    parser.add_argument("--imds-role", default="test-role")
    parser.add_argument("--imds-allow-v1", action="store_true")
    parser.add_argument("--imds-token-status", type=int, default=0)
    parser.add_argument("--imds-role-status", type=int, default=0)
    parser.add_argument("--imds-creds-status", type=int, default=0)
    parser.add_argument("--imds-creds-body", default=None)
    parser.add_argument("--sts-status", type=int, default=200)
    parser.add_argument("--sts-body", default="")
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), args)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
