#!/usr/bin/env python3
"""A bedrock-runtime that replays recorded responses, for src/bedrock/runtime_client_test.cc.

Listens on 127.0.0.1, port 0 (or --port), prints "PORT <n>" on stdout once it accepts, and exits
when its stdin closes, so a test that dies never leaves it behind. Python 3.11 stdlib only.

Every POST /model/{modelId}/{operation} must be authorized, or it gets a 403 the way AWS words it:
SigV4 (the signature is recomputed here from --access-key/--secret, scope <region>/bedrock) or
`Authorization: Bearer <--bearer>`. The responses are recordings of real Bedrock traffic from
--testdata (../shared/testdata):

  converse                     openinference js-nock should-handle-basic-converse-api-calls [0]
  converse-stream              eventstream/bedrock-recorded/openinference-js__should-handle-basic-
                               converse-stream-responses.bin
  invoke                       js-nock should-create-spans-for-invokemodel-calls [0], with its
                               X-Amzn-Bedrock-*-Token-Count headers
  invoke-with-response-stream  eventstream/bedrock-recorded/openinference-js__should-handle-invoke-
                               model-with-response-stream.bin
  count-tokens                 {"inputTokens": 11} (pydantic-ai test_bedrock_inference_profile_
                               count_tokens), after checking the body is {"input": {"converse"...}}

Model ids that start with a scenario name change that:

  throttled...        429 ThrottlingException, "Too many tokens, ..." (the real wire format)
  flaky...            503 ServiceUnavailableException on the first request to a path, then the
                      normal response
  unavailable...      503 ServiceUnavailableException, always
  cut...              streams: the headers and half the body, then the connection is closed
  midstream-throttle... streams: one event, then a throttlingException exception frame
  invalid...          400 ValidationException (recorded: "The provided model identifier is invalid.")

GET /__count?path=<request path> answers {"count": n}, the requests received at that path (with
or without valid authorization), so tests can tell retries from single attempts.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import struct
import sys
import threading
import urllib.parse
import zlib

REQUEST_ID = "5eb97805-580d-41b1-a814-2ddd2f7ee075"
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
# Hop-by-hop or recomputed: not replayed from the recordings.
SKIPPED_HEADERS = {"content-length", "connection", "date", "transfer-encoding"}


def load_nock(testdata, name, index=0):
    path = os.path.join(testdata, "bedrock-fixtures", "openinference", "js-nock", name)
    with open(path) as f:
        item = json.load(f)[index]
    raw = item["rawHeaders"]
    headers = [(raw[i], raw[i + 1]) for i in range(0, len(raw), 2)]
    headers = [(k, v) for k, v in headers if k.lower() not in SKIPPED_HEADERS]
    return json.dumps(item["response"]).encode(), headers


def load_bin(testdata, name):
    with open(os.path.join(testdata, "eventstream", "bedrock-recorded", name), "rb") as f:
        return f.read()


def event_frame(headers, payload):
    """One application/vnd.amazon.eventstream frame with string headers."""
    encoded = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        encoded += bytes([len(n)]) + n + bytes([7]) + struct.pack(">H", len(v)) + v
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def split_frames(body):
    frames, offset = [], 0
    while offset < len(body):
        (total,) = struct.unpack(">I", body[offset:offset + 4])
        frames.append(body[offset:offset + total])
        offset += total
    return frames


# --- SigV4 verification, written from the spec (bedrock-wire.md section 4), not from our C++ ---

def sigv4_check(method, target, headers, body, keys, region):
    """Returns None if the request is correctly signed, else (error type, message)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return ("IncompleteSignatureException", "Authorization header is not AWS4-HMAC-SHA256")
    parts = {}
    for item in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        key, _, value = item.strip().partition("=")
        parts[key] = value
    try:
        access_key, date, scope_region, service, terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        signature = parts["Signature"]
    except (KeyError, ValueError):
        return ("IncompleteSignatureException", "malformed Authorization header")
    if access_key not in keys:
        return ("UnrecognizedClientException", "The security token included in the request is "
                "invalid.")
    if (scope_region, service, terminator) != (region, "bedrock", "aws4_request"):
        return ("InvalidSignatureException", "Credential should be scoped to a valid region / "
                "service bedrock: " + parts["Credential"])
    if "host" not in signed or "x-amz-date" not in signed:
        return ("IncompleteSignatureException", "host and x-amz-date must be signed")
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return ("InvalidSignatureException", "X-Amz-Date does not match the credential date")
    path, _, query = target.partition("?")
    canonical_query = "&".join(sorted(
        urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)))
    canonical_headers = "".join(
        name + ":" + " ".join(headers.get(name, "").split()) + "\n" for name in signed)
    canonical_request = "\n".join([
        method,
        urllib.parse.quote(path, safe="/~"),  # non-S3: the wire path is encoded once more
        canonical_query,
        canonical_headers,
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ])
    scope = "/".join([date, scope_region, service, terminator])
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + keys[access_key]).encode()
    for part in (date, scope_region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return ("InvalidSignatureException", "The request signature we calculated does not match "
                "the signature you provided.")
    return None


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, args):
        super().__init__(address, Handler)
        self.args = args
        self.lock = threading.Lock()
        self.counts = {}
        td = args.testdata
        self.converse = load_nock(td, "should-handle-basic-converse-api-calls.json")
        self.invoke = load_nock(td, "should-create-spans-for-invokemodel-calls.json")
        self.invalid = load_nock(td, "should-handle-api-error-scenarios.json")
        self.converse_stream = load_bin(
            td, "openinference-js__should-handle-basic-converse-stream-responses.bin")
        self.invoke_stream = load_bin(
            td, "openinference-js__should-handle-invoke-model-with-response-stream.bin")

    def count(self, path):
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]

    def handle_error(self, request, client_address):
        # Clients hang up on cut streams and cancelled calls: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send(self, status, body, headers=(), content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_error_json(self, status, error_type, message):
        self.send(status, json.dumps({"message": message}).encode(),
                  [("x-amzn-ErrorType", error_type + ERROR_TYPE_SUFFIX),
                   ("x-amzn-RequestId", REQUEST_ID)])

    def send_stream(self, body, pieces=7, stop_after=None):
        """An event-stream body written in several pieces; stop_after cuts it (in bytes)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", REQUEST_ID)
        self.send_header("X-Amzn-Bedrock-Content-Type", "application/json")
        self.end_headers()
        data = body if stop_after is None else body[:stop_after]
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            self.wfile.write(data[i:i + step])
            self.wfile.flush()
        if stop_after is not None:
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the body end early

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__count":
            path = urllib.parse.parse_qs(url.query).get("path", [""])[0]
            with self.server.lock:
                count = self.server.counts.get(path, 0)
            self.send(200, json.dumps({"count": count}).encode())
        else:
            self.send(404, b'{"message":"not found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = urllib.parse.urlsplit(self.path).path
        attempt = self.server.count(path)
        segments = path.split("/")
        if len(segments) != 4 or segments[1] != "model":
            return self.send_error_json(404, "UnknownOperationException", "no such operation")
        model, operation = urllib.parse.unquote(segments[2]), segments[3]

        headers = {k.lower(): v for k, v in self.headers.items()}
        args = self.server.args
        auth = headers.get("authorization")
        if auth is None:
            return self.send_error_json(403, "MissingAuthenticationTokenException",
                                        "Missing Authentication Token")
        if auth.startswith("Bearer "):
            if auth[len("Bearer "):] != args.bearer:
                return self.send_error_json(403, "AccessDeniedException", "Invalid API Key format")
        else:
            problem = sigv4_check("POST", self.path, headers, body,
                                  {args.access_key: args.secret}, args.region)
            if problem is not None:
                return self.send_error_json(403, *problem)

        if model.startswith("throttled"):
            return self.send_error_json(429, "ThrottlingException",
                                        "Too many tokens, please wait before trying again.")
        if model.startswith("unavailable") or (model.startswith("flaky") and attempt == 1):
            return self.send_error_json(503, "ServiceUnavailableException",
                                        "Bedrock is unable to process your request.")
        if model.startswith("invalid"):
            response, replayed = self.server.invalid
            return self.send(400, response, replayed)

        if operation == "converse":
            response, replayed = self.server.converse
            return self.send(200, response, replayed)
        if operation == "invoke":
            response, replayed = self.server.invoke
            return self.send(200, response, replayed)
        if operation == "count-tokens":
            request = json.loads(body)
            if "messages" not in request.get("input", {}).get("converse", {}):
                return self.send_error_json(400, "ValidationException", "input.converse missing")
            return self.send(200, b'{"inputTokens":11}', [("x-amzn-RequestId", REQUEST_ID)])
        if operation in ("converse-stream", "invoke-with-response-stream"):
            stream = (self.server.converse_stream if operation == "converse-stream"
                      else self.server.invoke_stream)
            if model.startswith("cut"):
                return self.send_stream(stream, stop_after=len(stream) // 2)
            if model.startswith("midstream-throttle"):
                first = split_frames(stream)[0]
                throttle = event_frame(
                    [(":exception-type", "throttlingException"),
                     (":content-type", "application/json"),
                     (":message-type", "exception")],
                    b'{"message":"Too many requests, please wait before trying again. You have '
                    b'sent too many requests.  Wait before trying again."}')
                return self.send_stream(first + throttle)
            return self.send_stream(stream)
        return self.send_error_json(404, "UnknownOperationException", "no such operation")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--testdata", required=True, help="../shared/testdata")
    parser.add_argument("--access-key", default="AKIDREPLAY")
    parser.add_argument("--secret", default="replay-secret")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bearer", default="ABSKreplaytoken")
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), args)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT", server.server_address[1], flush=True)
    sys.stdin.read()  # returns at EOF: the test closed our stdin, or died
    server.shutdown()


if __name__ == "__main__":
    main()
