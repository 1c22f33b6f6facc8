#!/usr/bin/env python3
"""Replays the recorded Bedrock traffic in ../shared/testdata/bedrock-fixtures against
`quotaflow emulate` and diffs every answer with the recording.

README
======

What it does
------------
1. Starts `$QUOTAFLOW_BIN emulate --port 0 --config <temp toml>` with latency off, a fixed
   output length and quotas no replay can exhaust, and reads the port from the
   "listening on http://HOST:PORT" line.
2. Walks EVERY file under `$QUOTAFLOW_SHARED/testdata/bedrock-fixtures` and turns it into
   interactions (VCR yaml cassettes, nock json recordings, vercel-ai captures that name their
   request) or into a skip with a reason (response-only bodies, licences, the API model...).
3. Sends each replayable request as recorded (method, path as on the wire, body, the request
   headers that carry meaning) signed with botocore's SigV4Auth (service `bedrock`, region from
   the recorded Host `bedrock-runtime.<region>.amazonaws.com`, the emulator's default key pair),
   with the recorded Host header. Interactions of one file go in recorded order.
4. Compares structure, never content (the emulator's text and numbers are its own):
   * HTTP status;
   * headers: Content-Type (media type), x-amzn-RequestId (present when recorded; a UUID),
     x-amzn-ErrorType (code part, on errors), x-amzn-bedrock-{input,output}-token-count,
     -invocation-latency and -cache-{read,write}-input-token-count (present and numeric when
     recorded), X-Amzn-Bedrock-Content-Type (on invoke streams, same value);
   * JSON bodies: keys and value types, recursively; lists by element shape (the union of their
     elements' shapes); null matches any type. A key the recording has must be in the answer
     unless it is in UNMODELLED_KEYS; keys only the emulator sends are listed as "extra" (not a
     failure);
   * errors: status, error code (x-amzn-ErrorType, else the body's __type) and the message,
     exactly;
   * ConverseStream: the `:event-type` sequence with runs collapsed (so any number of deltas
     matches any number), the frame header names, and the JSON shape of each event type;
   * InvokeModelWithResponseStream: the decoded chunks' `type` sequence (Anthropic `type`; the
     wrapper key for Nova; "chunk" / "chunk+invocationMetrics" for the flat families), runs
     collapsed, and each chunk kind's JSON shape.

Unmodelled features (the allowlist)
-----------------------------------
The emulator answers every request with generated text. Output the recording has but the
emulator never produces is taken out of the recording before the comparison:
  * content blocks / stream blocks and deltas: UNMODELLED_BLOCK_KEYS (Converse: toolUse,
    toolResult, reasoningContent, citationsContent, citation, image, ...) and
    UNMODELLED_NATIVE_TYPES (Anthropic: tool_use, thinking, redacted_thinking, ...,
    and their delta types);
  * keys: UNMODELLED_KEYS (guardrail `trace`, `additionalModelResponseFields`).
When taking them out leaves no modelled output at all (a tool-use-only answer), the interaction
is skipped ("the emulator cannot honour it"). Everything else that differs is a mismatch: do not
allowlist a real emulator bug here.

Skips (each with its reason in the table)
-----------------------------------------
Decided from the recording's structure, not per file: non-Bedrock interactions (document
downloads, OpenAI), operations the emulator does not serve (ApplyGuardrail), successful answers of
models not in data/models.json (embeddings, newer models, application inference profile ARNs),
hand-written error cassettes (an error body with `__type` and no x-amzn-ErrorType, SOURCES.md),
account-specific AccessDeniedException, answers that are only unmodelled output. The few
per-file facts live in three small tables: SKIP_FILE_KINDS (what non-recording files are),
RECONSTRUCTED_REQUESTS (captures that recorded a model id and an error but no request body) and
STAND_IN_MODELS (a catalog model standing in for one that is not in the catalog, for
model-independent validation errors only).

Coverage
--------
Every file under the fixtures directory must end up replayed or skipped with a reason; a file
no rule accounts for fails the run, so a new fixture cannot be silently ignored.

Exit status: 0 when every replayed interaction matched and every file is accounted for; 1 on a
mismatch or an unaccounted file; 2 when the emulator cannot be started or the environment is
wrong.

Running it
----------
  QUOTAFLOW_BIN=build/release/src/cli/quotaflow QUOTAFLOW_SHARED=../shared python3 tests/replay_diff.py
  ... tests/replay_diff.py -v            # also list the extra keys and allowlisted features
  ... tests/replay_diff.py -k cache      # only fixtures whose path contains "cache"
ctest runs it as `emulator_replay_diff`. Standard library, PyYAML and botocore (from the image;
without botocore the requests carry the emulator's bearer key instead of SigV4).
"""

import argparse
import base64
import binascii
import collections
import http.client
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - the image has PyYAML
    yaml = None

try:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:  # pragma: no cover
    SigV4Auth = None

REPO = Path(__file__).resolve().parents[1]

# src/emulator/options.h
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER_KEY = "ABSKQmVkcm9ja0VtdWxhdG9yS2V5"

EMULATOR_CONFIG = """\
# written by tests/replay_diff.py
seed = 1
[server]
address = "127.0.0.1"
port = 0
threads = 2
[latency]
time_to_first_token = "0"
per_output_token = "0"
jitter = "0"
[output]
distribution = "fixed"
mean = 24
[quotas.on_demand]
tokens_per_minute = 1_000_000_000_000
[quotas.cross_region]
tokens_per_minute = 1_000_000_000_000
[quotas.global]
tokens_per_minute = 1_000_000_000_000
"""

RUNTIME_ACTIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "count-tokens": "CountTokens",
}
STREAM_OPS = {"ConverseStream", "InvokeModelWithResponseStream"}

# ---------------------------------------------------------------------------------------------
# The allowlist: output features the emulator does not model (see the README above).

# Converse content blocks, ConverseStream contentBlockStart.start / contentBlockDelta.delta
# members, Nova native blocks. A list element (or stream block) made only of these is removed
# from the recording before the comparison.
UNMODELLED_BLOCK_KEYS = {
    "toolUse": "tool use output",
    "toolResult": "server-side tool results",
    "reasoningContent": "reasoning (extended thinking)",
    "citationsContent": "citations",
    "citation": "citations",
    "image": "image output",
    "video": "video output",
    "audio": "audio output",
    "document": "document output",
    "guardContent": "guardrail content",
    "searchResult": "search results",
}
# Anthropic Messages API content block and delta types.
UNMODELLED_NATIVE_TYPES = {
    "tool_use": "tool use output",
    "server_tool_use": "server-side tool use",
    "web_search_tool_result": "server-side tool results",
    "thinking": "reasoning (extended thinking)",
    "redacted_thinking": "reasoning (extended thinking)",
    "input_json_delta": "tool use output",
    "thinking_delta": "reasoning (extended thinking)",
    "signature_delta": "reasoning (extended thinking)",
    "citations_delta": "citations",
}
# Keys that may be missing from the emulator's answer.
UNMODELLED_KEYS = {
    "trace": "guardrail / prompt-router trace",
    "additionalModelResponseFields": "additionalModelResponseFieldPaths (model-specific fields)",
}

# ---------------------------------------------------------------------------------------------
# The small per-file tables.

# Files that are not recordings of traffic, by path pattern (first match wins).
SKIP_FILE_KINDS = [
    (re.compile(r"(^|/)(LICENSE|NOTICE)(\.txt)?$"), "licence text, not traffic"),
    (re.compile(r"^botocore-model/"), "bedrock-runtime API model / endpoint rules, not traffic"),
    (re.compile(r"^vercel-ai/.*\.chunks\.txt$"),
     "decoded ConverseStream events only: no request was recorded"),
    (re.compile(r"^vercel-ai/.*\.eventstream\.base64\.txt$"),
     "synthetic exception frame built by a reproduction script (SOURCES.md), no request"),
]

# vercel-ai captures that recorded the model id and Bedrock's answer but not the request: the
# request is rebuilt from what the answer says about it (regex on the error message -> body).
RECONSTRUCTED_REQUESTS = [
    (re.compile(r"^The content field in the Message object at messages\.(\d+) is empty\."),
     lambda m: {"messages": [
         {"role": "user" if i % 2 == 0 else "assistant",
          "content": [] if i == int(m.group(1)) else [{"text": "Hello"}]}
         for i in range(int(m.group(1)) + 2)]}),
]

# A catalog model standing in for a recorded model the catalog does not have. Only used for
# recorded VALIDATION errors that do not depend on the model (the request's shape is wrong).
STAND_IN_MODELS = {
    "us.amazon.nova-2-lite-v1:0": "us.amazon.nova-lite-v1:0",
}

# Request headers that are transport, SDK bookkeeping or the recording's own credentials.
DROPPED_REQUEST_HEADERS = {
    "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
    "amz-sdk-invocation-id", "amz-sdk-request", "user-agent", "x-amz-user-agent",
    "content-length", "host", "connection", "accept-encoding", "transfer-encoding",
}

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COUNT_HEADERS = [
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    "x-amzn-bedrock-invocation-latency",
    "x-amzn-bedrock-cache-read-input-token-count",
    "x-amzn-bedrock-cache-write-input-token-count",
]


# ---------------------------------------------------------------------------------------------
# Data model


class Skip(Exception):
    """An interaction (or file) the emulator cannot replay, with the reason."""


class Interaction:
    def __init__(self, fixture, index, label=None):
        self.fixture = fixture  # path relative to the fixtures directory
        self.index = index
        self.label = label or f"{fixture}#{index}"
        self.method = "POST"
        self.url = ""
        self.body = b""
        self.headers = []  # [(name, value)] to send, besides signing
        self.rec_status = 0
        self.rec_headers = {}  # lower-case name -> value
        self.rec_body = b""  # raw bytes (streams, text) ...
        self.rec_json = None  # ... or parsed JSON
        self.note = ""  # e.g. "request reconstructed"
        self.op = ""
        self.model = ""
        self.host = ""
        self.region = ""
        self.path = ""
        self.rec_request_length = None  # the recorded request's Content-Length, if any

    def finish(self):
        parts = urllib.parse.urlsplit(self.url)
        self.host = parts.hostname or ""
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        m = re.match(r"^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$", self.host)
        self.region = m.group(1) if m else ""
        m = re.match(r"^/model/([^/]+)/([a-z-]+)$", parts.path)
        if m and m.group(2) in RUNTIME_ACTIONS:
            self.model = urllib.parse.unquote(m.group(1))
            self.op = RUNTIME_ACTIONS[m.group(2)]
        if self.rec_json is None and self.rec_body and not self.is_stream_recording():
            try:
                self.rec_json = json.loads(self.rec_body)
            except ValueError:
                pass

    def is_stream_recording(self):
        ct = self.rec_headers.get("content-type", "")
        return "eventstream" in ct or (self.op in STREAM_OPS and 200 <= self.rec_status < 300)


class Outcome:
    def __init__(self, interaction, kind, detail=None):
        self.i = interaction
        self.kind = kind  # MATCH, MISMATCH, SKIP
        self.detail = detail or []  # reasons / diffs
        self.extras = []
        self.allowed = []


# ---------------------------------------------------------------------------------------------
# Fixture loading


def header_value(v):
    if isinstance(v, list):
        v = v[0] if v else ""
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return str(v)


def body_bytes(v):
    if v is None:
        return b""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def request_headers(headers):
    out = []
    for name, value in headers.items():
        if name.lower() in DROPPED_REQUEST_HEADERS:
            continue
        out.append((name, header_value(value)))
    return out


def load_vcr(rel, path):
    if yaml is None:
        raise Skip("PyYAML is not installed: cannot read VCR cassettes")
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for n, it in enumerate(doc.get("interactions") or []):
        req, resp = it["request"], it["response"]
        x = Interaction(rel, n)
        x.method = req.get("method", "POST")
        x.url = req["uri"]
        x.body = body_bytes(req.get("body"))
        x.headers = request_headers(req.get("headers") or {})
        for name, value in (req.get("headers") or {}).items():
            if name.lower() == "content-length":
                x.rec_request_length = header_value(value)
        x.rec_status = int(resp["status"]["code"])
        x.rec_headers = {k.lower(): header_value(v) for k, v in (resp.get("headers") or {}).items()}
        if "parsed_body" in resp:
            x.rec_json = resp["parsed_body"]
        else:
            s = (resp.get("body") or {}).get("string")
            x.rec_body = s if isinstance(s, bytes) else (s or "").encode("utf-8")
        x.finish()
        out.append(x)
    return out


def load_nock(rel, path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for n, it in enumerate(doc):
        x = Interaction(rel, n)
        x.method = it.get("method", "POST")
        x.url = it["scope"] + it["path"]
        x.body = body_bytes(it.get("body"))
        x.headers = request_headers(it.get("reqheaders") or {})
        x.rec_request_length = (it.get("reqheaders") or {}).get("content-length")
        x.rec_status = int(it["status"])
        raw = it.get("rawHeaders") or []
        x.rec_headers = {raw[k].lower(): raw[k + 1] for k in range(0, len(raw) - 1, 2)}
        resp = it.get("response")
        if it.get("responseIsBinary"):
            x.rec_body = binascii.unhexlify(resp)
        elif isinstance(resp, (dict, list)):
            x.rec_json = resp
        else:
            x.rec_body = body_bytes(resp)
        x.finish()
        out.append(x)
    return out


def load_vercel_capture(rel, path):
    """A vercel-ai JSON. Most are response bodies only; captures that name their model id are
    rebuilt into a request."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "modelId" not in doc:
        raise Skip("response body only: no request was recorded")
    x = Interaction(rel, 0)
    region = doc.get("region", "us-east-1")
    model = doc["modelId"]
    if "prompt" in doc and isinstance(doc.get("response"), dict):
        # A live capture: model, region and prompt are recorded; the answer is a raw stream.
        resp = doc["response"]
        op = "converse-stream" if "eventstream" in resp.get("contentType", "") else "converse"
        x.body = body_bytes({"messages": [{"role": "user", "content": [{"text": doc["prompt"]}]}]})
        x.rec_status = int(resp["status"])
        x.rec_headers = {"content-type": resp.get("contentType", "")}
        x.rec_body = base64.b64decode(resp["bodyBase64"])
        x.note = "request rebuilt from the capture's modelId/region/prompt"
    elif "status" in doc and isinstance(doc.get("body"), dict):
        message = doc["body"].get("message", "")
        for pattern, build in RECONSTRUCTED_REQUESTS:
            m = pattern.match(message)
            if m:
                x.body = body_bytes(build(m))
                break
        else:
            raise Skip("error capture without a request, and no RECONSTRUCTED_REQUESTS rule")
        op = "converse"
        x.rec_status = int(doc["status"])
        x.rec_headers = {k.lower(): v for k, v in (doc.get("headers") or {}).items()}
        x.rec_json = doc["body"]
        x.note = "request rebuilt from the recorded error message (region assumed us-east-1)"
    else:
        raise Skip("capture names a model but neither a prompt nor an error: no request")
    x.headers = [("Content-Type", "application/json")]
    x.url = (f"https://bedrock-runtime.{region}.amazonaws.com/model/"
             f"{urllib.parse.quote(model, safe='')}/{op}")
    x.finish()
    return [x]


def load_fixture(rel, path):
    """-> list of Interaction; raises Skip for a whole file."""
    for pattern, reason in SKIP_FILE_KINDS:
        if pattern.search(rel):
            raise Skip(reason)
    if rel.endswith(".yaml") or rel.endswith(".yml"):
        return load_vcr(rel, path)
    if rel.startswith("openinference/js-nock/") and rel.endswith(".json"):
        return load_nock(rel, path)
    if rel.startswith("vercel-ai/") and rel.endswith(".json"):
        return load_vercel_capture(rel, path)
    return None  # unaccounted


# ---------------------------------------------------------------------------------------------
# The model catalog, as the emulator resolves ids (src/bedrock/model_catalog.h)


class Catalog:
    def __init__(self, path):
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        self.ids = set()
        for m in doc["models"]:
            self.ids.add(m["id"])
            for prefix in m.get("profiles", []):
                self.ids.add(f"{prefix}.{m['id']}")

    def has(self, model_id):
        m = re.match(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(foundation-model|inference-profile)/(.+)$",
                     model_id)
        if m:
            model_id = m.group(2)
        return model_id in self.ids


# ---------------------------------------------------------------------------------------------
# Event streams


def decode_eventstream(data):
    """-> [(headers dict, payload bytes)]; raises ValueError on a bad frame."""
    frames = []
    off = 0
    while off < len(data):
        if len(data) - off < 16:
            raise ValueError(f"truncated prelude at byte {off}")
        total, hlen, pcrc = struct.unpack_from(">III", data, off)
        if zlib.crc32(data[off:off + 8]) != pcrc:
            raise ValueError(f"prelude CRC mismatch at byte {off}")
        if total < 16 or off + total > len(data):
            raise ValueError(f"truncated frame at byte {off}")
        (mcrc,) = struct.unpack_from(">I", data, off + total - 4)
        if zlib.crc32(data[off:off + total - 4]) != mcrc:
            raise ValueError(f"message CRC mismatch at byte {off}")
        headers = {}
        p, end = off + 12, off + 12 + hlen
        while p < end:
            nlen = data[p]
            name = data[p + 1:p + 1 + nlen].decode("utf-8")
            p += 1 + nlen
            t = data[p]
            p += 1
            if t in (0, 1):
                value = t == 0
            elif t in (2, 3, 4, 5, 8):
                size, fmt = {2: (1, ">b"), 3: (2, ">h"), 4: (4, ">i"), 5: (8, ">q"), 8: (8, ">q")}[t]
                (value,) = struct.unpack_from(fmt, data, p)
                p += size
            elif t in (6, 7):
                (vlen,) = struct.unpack_from(">H", data, p)
                value = data[p + 2:p + 2 + vlen]
                value = value.decode("utf-8") if t == 7 else value
                p += 2 + vlen
            elif t == 9:
                value = data[p:p + 16].hex()
                p += 16
            else:
                raise ValueError(f"unknown header type {t}")
            headers[name] = value
        frames.append((headers, data[end:off + total - 4]))
        off += total
    return frames


CONVERSE_EVENTS = {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop",
                   "messageStop", "metadata"}


class StreamView:
    """A decoded stream reduced to what is compared: the kinds in order (unmodelled blocks taken
    out), the payloads per kind, the frame header names per message type."""

    def __init__(self):
        self.kinds = []
        self.payloads = collections.defaultdict(list)  # kind -> [json]
        self.frame_headers = collections.defaultdict(set)  # message type -> header names
        self.frame_payloads = []  # chunk frames' own JSON ({"bytes","p"})
        self.dropped = set()  # unmodelled features seen
        self.has_output = False  # a modelled content delta is left

    def sequence(self):
        """The kinds with repeats collapsed: runs of one kind (delta, delta, ...) and runs of a
        repeated pair (Nova's native stream closes a block after every delta: delta, stop,
        delta, stop, ...), so that the number of deltas, which follows the output length, does
        not matter."""
        out = []
        for k in self.kinds:
            out.append(k)
            for period in (1, 2):
                if len(out) >= 2 * period and out[-period:] == out[-2 * period:-period]:
                    del out[-period:]
                    break
        return out


def _block_kind_keys(part):
    return {k for k in (part or {}) if k != "p"} if isinstance(part, dict) else set()


def _unmodelled(keys):
    return bool(keys) and all(k in UNMODELLED_BLOCK_KEYS for k in keys)


class BlockFilter:
    """Takes unmodelled content blocks out of a stream, Converse (Nova) or Anthropic style."""

    def __init__(self, view):
        self.view = view
        self.kept_blocks = set()
        self.dropped_blocks = set()

    def keep(self, kind, payload):
        """-> whether the event stays."""
        v = self.view
        if kind == "contentBlockStart":
            keys = _block_kind_keys(payload.get("start"))
            if _unmodelled(keys):
                self.dropped_blocks.add(payload.get("contentBlockIndex"))
                v.dropped.update(UNMODELLED_BLOCK_KEYS[k] for k in keys)
                return False
            self.kept_blocks.add(payload.get("contentBlockIndex"))
            return True
        if kind == "contentBlockDelta":
            keys = _block_kind_keys(payload.get("delta"))
            if _unmodelled(keys):
                v.dropped.update(UNMODELLED_BLOCK_KEYS[k] for k in keys)
                return False
            self.kept_blocks.add(payload.get("contentBlockIndex"))
            v.has_output = True
            return True
        if kind == "contentBlockStop":
            return payload.get("contentBlockIndex") in self.kept_blocks
        if kind == "content_block_start":
            t = (payload.get("content_block") or {}).get("type")
            if t in UNMODELLED_NATIVE_TYPES:
                self.dropped_blocks.add(payload.get("index"))
                v.dropped.add(UNMODELLED_NATIVE_TYPES[t])
                return False
            self.kept_blocks.add(payload.get("index"))
            return True
        if kind == "content_block_delta":
            t = (payload.get("delta") or {}).get("type")
            if t in UNMODELLED_NATIVE_TYPES or payload.get("index") in self.dropped_blocks:
                v.dropped.add(UNMODELLED_NATIVE_TYPES.get(t, "unmodelled block"))
                return False
            v.has_output = True
            return True
        if kind == "content_block_stop":
            return payload.get("index") not in self.dropped_blocks
        return True


def chunk_kind(native):
    if isinstance(native.get("type"), str):
        return native["type"], native
    keys = [k for k in native if k != "amazon-bedrock-invocationMetrics"]
    if len(keys) == 1 and keys[0] in CONVERSE_EVENTS and isinstance(native[keys[0]], dict):
        return keys[0], native[keys[0]]
    return ("chunk+invocationMetrics" if "amazon-bedrock-invocationMetrics" in native
            else "chunk"), native


def stream_view(data, op):
    """Decodes a ConverseStream / InvokeModelWithResponseStream body."""
    view = StreamView()
    blocks = BlockFilter(view)
    for headers, payload in decode_eventstream(data):
        mtype = headers.get(":message-type", "?")
        view.frame_headers[mtype].update(headers)
        if mtype != "event":
            kind = f"{mtype}:{headers.get(':exception-type') or headers.get(':error-code')}"
            view.kinds.append(kind)
            view.payloads[kind].append(json.loads(payload) if payload else {})
            continue
        etype = headers.get(":event-type", "?")
        body = json.loads(payload) if payload else {}
        if op == "InvokeModelWithResponseStream" and etype == "chunk":
            view.frame_payloads.append(body)
            native = json.loads(base64.b64decode(body.get("bytes", "")))
            kind, inner = chunk_kind(native)
            if kind.startswith("chunk"):
                view.has_output = True
            if not blocks.keep(kind, inner):
                continue
            view.kinds.append(kind)
            view.payloads[kind].append(native)
        else:
            if not blocks.keep(etype, body):
                continue
            view.kinds.append(etype)
            view.payloads[etype].append(body)
    return view


# ---------------------------------------------------------------------------------------------
# JSON shapes


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def shape(v):
    s = {"t": {json_type(v)}, "k": None, "e": None}
    if isinstance(v, dict):
        s["k"] = {k: shape(x) for k, x in v.items()}
    elif isinstance(v, list):
        for x in v:
            s["e"] = merge(s["e"], shape(x))
    return s


def merge(a, b):
    if a is None:
        return b
    if b is None:
        return a
    out = {"t": a["t"] | b["t"], "k": None, "e": merge(a["e"], b["e"])}
    if a["k"] is not None or b["k"] is not None:
        ka, kb = a["k"] or {}, b["k"] or {}
        out["k"] = {k: merge(ka.get(k), kb.get(k)) for k in {**ka, **kb}}
    return out


def shape_of_all(values):
    s = None
    for v in values:
        s = merge(s, shape(v))
    return s


def strip_unmodelled(v, dropped):
    """A copy of recorded JSON without unmodelled list elements; raises Skip when that leaves a
    list empty that was not (the answer is only unmodelled output)."""
    if isinstance(v, dict):
        return {k: strip_unmodelled(x, dropped) for k, x in v.items()}
    if isinstance(v, list):
        kept = []
        for x in v:
            if isinstance(x, dict):
                keys = _block_kind_keys(x)
                t = x.get("type")
                if _unmodelled(keys) and "text" not in keys:
                    dropped.update(UNMODELLED_BLOCK_KEYS[k] for k in keys)
                    continue
                if isinstance(t, str) and t in UNMODELLED_NATIVE_TYPES:
                    dropped.add(UNMODELLED_NATIVE_TYPES[t])
                    continue
            kept.append(strip_unmodelled(x, dropped))
        if v and not kept:
            raise Skip("the recorded answer is only " + ", ".join(sorted(dropped)) +
                       ": the emulator answers text")
        return kept
    return v


def compare_shapes(rec, emu, path, out):
    """Appends to out['fail'], out['extra'], out['allowed']."""
    if rec is None or emu is None:
        return
    rt, et = rec["t"] - {"null"}, emu["t"] - {"null"}
    if rt and et and not et <= rt:
        out["fail"].append(f"{path or '$'}: type {'/'.join(sorted(et))}, "
                           f"recorded {'/'.join(sorted(rt))}")
        return
    if rec["k"] is not None and emu["k"] is not None:
        for k, sub in rec["k"].items():
            p = f"{path}.{k}" if path else k
            if k not in emu["k"]:
                if k in UNMODELLED_KEYS:
                    out["allowed"].append(f"{p} ({UNMODELLED_KEYS[k]})")
                else:
                    out["fail"].append(f"{p}: missing (recorded {'/'.join(sorted(sub['t']))})")
            else:
                compare_shapes(sub, emu["k"][k], p, out)
        for k in emu["k"]:
            if k not in rec["k"]:
                out["extra"].append(f"{path}.{k}" if path else k)
    if "array" in rt and "array" in et:
        if rec["e"] is not None and emu["e"] is None:
            out["fail"].append(f"{path}[]: empty, recorded elements")
        elif rec["e"] is not None:
            compare_shapes(rec["e"], emu["e"], f"{path}[]", out)


# ---------------------------------------------------------------------------------------------
# The emulator


class Emulator:
    def __init__(self, binary, workdir):
        self.config = Path(workdir) / "emulator.toml"
        self.config.write_text(EMULATOR_CONFIG, encoding="utf-8")
        # stderr goes to a file: a pipe nobody reads could fill up and stall the emulator.
        self.stderr_path = Path(workdir) / "emulator.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [binary, "emulate", "--port", "0", "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        self.port = None
        deadline = time.monotonic() + 15
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"listening on http://([^\s:]+):(\d+)", buf)
                if m:
                    self.host, self.port = m.group(1).decode(), int(m.group(2))
                    break
            elif self.proc.poll() is not None:
                break
        if self.port is None:
            self.stop()
            err = self.stderr_path.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"the emulator did not start: {buf.decode(errors='replace')}{err}")
        # Keep draining stdout so that the emulator can never block on a full pipe.
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()
        self.conn = None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def send(self, method, path, headers, body):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=20)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                hdrs = {}
                for k, v in resp.getheaders():
                    hdrs.setdefault(k.lower(), v)
                if resp.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, hdrs, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def signed_headers(x, model_path):
    """The headers to send: the recorded meaningful ones plus SigV4 (or the bearer key)."""
    headers = {name: value for name, value in x.headers}
    if SigV4Auth is not None:
        req = AWSRequest(method=x.method, url=f"https://{x.host}{model_path}", data=x.body,
                         headers=dict(headers))
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "bedrock", x.region).add_auth(req)
        headers = dict(req.headers.items())
    else:
        headers["Authorization"] = f"Bearer {BEARER_KEY}"
    headers["Host"] = x.host
    return headers


# ---------------------------------------------------------------------------------------------
# Classification and comparison


def error_code(headers, body):
    h = headers.get("x-amzn-errortype")
    if h:
        return h.split(":", 1)[0]
    if isinstance(body, dict):
        t = body.get("__type") or body.get("code") or body.get("Code")
        if isinstance(t, str):
            return t.split("#")[-1].split(":", 1)[0]
    return None


def error_message(body):
    if isinstance(body, dict):
        m = body.get("message", body.get("Message"))
        return m if isinstance(m, str) else None
    return None


def classify(x, catalog):
    """Raises Skip for an interaction the emulator cannot replay; returns the model id to send
    (a stand-in when one applies)."""
    if not re.match(r"^bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com$", x.host):
        raise Skip(f"not a Bedrock interaction ({x.method} {x.host})")
    if not x.op:
        op = "ApplyGuardrail" if re.match(r"^/guardrail/[^/]+/version/[^/]+/apply", x.path) \
            else x.path
        raise Skip(f"{op}: an operation the emulator does not serve")
    error = x.rec_status >= 400
    if not error and x.op in ("Converse", "ConverseStream", "CountTokens"):
        try:
            json.loads(x.body)
        except ValueError:
            raise Skip(f"the recorded request body is not JSON ({len(x.body)} bytes, recorded "
                       f"Content-Length {x.rec_request_length}) yet the answer was "
                       f"{x.rec_status}: the cassette was edited after recording")
    if error:
        if x.rec_json is not None and isinstance(x.rec_json, dict) and "__type" in x.rec_json \
                and "x-amzn-errortype" not in x.rec_headers \
                and "x-amzn-requestid" not in x.rec_headers:
            raise Skip(f"hand-written {x.rec_status} {x.rec_json['__type']} (body __type, no "
                       "x-amzn-ErrorType or request id; SOURCES.md)")
        code = error_code(x.rec_headers, x.rec_json)
        if code == "AccessDeniedException":
            raise Skip("AccessDeniedException: the recording account had no access to the model "
                       "(the emulator grants every catalog model)")
    model = x.model
    if not catalog.has(model):
        if error and model in STAND_IN_MODELS and \
                (error_code(x.rec_headers, x.rec_json) or "ValidationException") == \
                "ValidationException" and \
                error_message(x.rec_json) != "The provided model identifier is invalid.":
            x.note = (x.note + "; " if x.note else "") + \
                f"model {model} not in catalog: stand-in {STAND_IN_MODELS[model]}"
            return STAND_IN_MODELS[model]
        if not error:
            if "application-inference-profile/" in model:
                raise Skip("application inference profile ARN: only the control plane knows "
                           "its model (not modelled)")
            if "embed" in model:
                raise Skip(f"embeddings model {model} is not in data/models.json")
            raise Skip(f"model {model} is not in data/models.json")
    return model


def compare(x, status, headers, data):
    """-> (fails, extras, allowed)."""
    out = {"fail": [], "extra": [], "allowed": []}
    fails = out["fail"]
    if status != x.rec_status:
        msg = ""
        try:
            msg = json.loads(data).get("message", "")
        except (ValueError, AttributeError):
            pass
        fails.append(f"status {status} (recorded {x.rec_status})"
                     + (f" {headers.get('x-amzn-errortype', '').split(':')[0]}: {msg!r}"
                        if status >= 400 else ""))
        if x.rec_status >= 400:
            fails.append(f"recorded: {error_code(x.rec_headers, x.rec_json)}: "
                         f"{error_message(x.rec_json)!r}")
        return out

    # headers
    rec_ct = x.rec_headers.get("content-type")
    emu_ct = headers.get("content-type")
    if rec_ct is not None:
        media = lambda v: (v or "").split(";")[0].strip().lower()
        if media(rec_ct) != media(emu_ct):
            fails.append(f"Content-Type {emu_ct!r} (recorded {rec_ct!r})")
    rid = headers.get("x-amzn-requestid")
    if "x-amzn-requestid" in x.rec_headers and rid is None:
        fails.append("x-amzn-RequestId: missing")
    if rid is not None and not UUID_RE.match(rid):
        fails.append(f"x-amzn-RequestId {rid!r}: not a UUID")
    if x.op in ("InvokeModel",) and status < 300:
        for h in COUNT_HEADERS:
            if h in x.rec_headers:
                if h not in headers:
                    fails.append(f"{h}: missing (recorded {x.rec_headers[h]!r})")
                elif not re.match(r"^\d+$", headers[h]):
                    fails.append(f"{h} {headers[h]!r}: not a count")
    if "x-amzn-bedrock-content-type" in x.rec_headers:
        want = x.rec_headers["x-amzn-bedrock-content-type"]
        if headers.get("x-amzn-bedrock-content-type") != want:
            fails.append(f"X-Amzn-Bedrock-Content-Type "
                         f"{headers.get('x-amzn-bedrock-content-type')!r} (recorded {want!r})")

    # errors
    if x.rec_status >= 400:
        try:
            emu_body = json.loads(data)
        except ValueError:
            fails.append(f"error body is not JSON: {data[:80]!r}")
            return out
        rec_code = error_code(x.rec_headers, x.rec_json)
        emu_code = error_code({"x-amzn-errortype": headers.get("x-amzn-errortype", "")}, {})
        if not headers.get("x-amzn-errortype"):
            fails.append("x-amzn-ErrorType: missing")
        elif rec_code and emu_code != rec_code:
            fails.append(f"error code {emu_code} (recorded {rec_code})")
        rec_msg, emu_msg = error_message(x.rec_json), error_message(emu_body)
        if rec_msg is not None and emu_msg != rec_msg:
            fails.append(f"message {emu_msg!r} (recorded {rec_msg!r})")
        rec = x.rec_json if isinstance(x.rec_json, dict) else {}
        compare_shapes(shape(rec), shape(emu_body), "", out)
        return out

    # streams
    if x.is_stream_recording():
        rec_view = stream_view(x.rec_body, x.op)
        try:
            emu_view = stream_view(data, x.op)
        except ValueError as e:
            fails.append(f"emulator stream does not decode: {e}")
            return out
        rs, es = rec_view.sequence(), emu_view.sequence()
        if rs != es:
            fails.append(f"event sequence {' '.join(es)} (recorded {' '.join(rs)})")
        for mtype, names in rec_view.frame_headers.items():
            got = emu_view.frame_headers.get(mtype)
            if got is not None and got != names:
                fails.append(f"{mtype} frame headers {sorted(got)} (recorded {sorted(names)})")
        if rec_view.frame_payloads:
            compare_shapes(shape_of_all(rec_view.frame_payloads),
                           shape_of_all(emu_view.frame_payloads), "<chunk frame>", out)
        for kind, payloads in rec_view.payloads.items():
            if kind in emu_view.payloads:
                compare_shapes(shape_of_all(payloads), shape_of_all(emu_view.payloads[kind]),
                               f"<{kind}>", out)
        out["allowed"].extend(sorted(rec_view.dropped))
        return out

    # JSON bodies
    try:
        emu_body = json.loads(data)
    except ValueError:
        fails.append(f"body is not JSON: {data[:80]!r}")
        return out
    if x.rec_json is None:
        fails.append("recorded body is not JSON (cannot compare)")
        return out
    dropped = set()
    rec = strip_unmodelled(x.rec_json, dropped)
    compare_shapes(shape(rec), shape(emu_body), "", out)
    out["allowed"].extend(sorted(dropped))
    return out


def precheck_recording(x):
    """Raises Skip when the recorded answer is only unmodelled output (decided before sending)."""
    if x.rec_status >= 300:
        return
    if x.is_stream_recording():
        try:
            view = stream_view(x.rec_body, x.op)
        except (ValueError, KeyError) as e:
            raise Skip(f"recorded stream does not decode: {e}")
        if not view.has_output:
            raise Skip("the recorded stream carries only " +
                       (", ".join(sorted(view.dropped)) or "no content") +
                       ": the emulator answers text")
    elif x.rec_json is not None:
        strip_unmodelled(x.rec_json, set())


# ---------------------------------------------------------------------------------------------
# Main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list extra keys and allowlisted features for every interaction")
    ap.add_argument("-k", "--filter", default="", help="only fixtures whose path contains this")
    args = ap.parse_args()

    binary = os.environ.get("QUOTAFLOW_BIN")
    shared = Path(os.environ.get("QUOTAFLOW_SHARED", REPO.parent / "shared"))
    fixtures = shared / "testdata" / "bedrock-fixtures"
    if not binary or not Path(binary).is_file():
        print(f"replay_diff: QUOTAFLOW_BIN must name the quotaflow binary (got {binary!r})",
              file=sys.stderr)
        return 2
    if not fixtures.is_dir():
        print(f"replay_diff: no fixtures at {fixtures}", file=sys.stderr)
        return 2
    catalog = Catalog(REPO / "data" / "models.json")
    started = time.monotonic()

    files = sorted(p for p in fixtures.rglob("*") if p.is_file())
    outcomes = []
    file_outcomes = collections.OrderedDict()  # rel -> [Outcome] (or file-level skip)
    unaccounted = []
    work = []
    for path in files:
        rel = path.relative_to(fixtures).as_posix()
        if args.filter and args.filter not in rel:
            continue
        try:
            interactions = load_fixture(rel, path)
        except Skip as s:
            o = Outcome(Interaction(rel, 0, label=rel), "SKIP", [str(s)])
            file_outcomes[rel] = [o]
            continue
        except Exception as e:  # a fixture the loaders cannot read is a failure, not a skip
            unaccounted.append(f"{rel}: cannot be read ({type(e).__name__}: {e})")
            continue
        if interactions is None:
            unaccounted.append(f"{rel}: no rule replays or skips this kind of file")
            continue
        if not interactions:
            unaccounted.append(f"{rel}: holds no interactions")
            continue
        file_outcomes[rel] = []
        work.extend(interactions)

    with tempfile.TemporaryDirectory(prefix="replay_diff.") as tmp:
        try:
            emulator = Emulator(binary, tmp)
        except (RuntimeError, OSError) as e:
            print(f"replay_diff: {e}", file=sys.stderr)
            return 2
        try:
            for x in work:
                try:
                    model = classify(x, catalog)
                    precheck_recording(x)
                except Skip as s:
                    file_outcomes[x.fixture].append(Outcome(x, "SKIP", [str(s)]))
                    continue
                path = x.path
                if model != x.model:
                    path = path.replace(urllib.parse.quote(x.model, safe=""),
                                        urllib.parse.quote(model, safe=""), 1)
                headers = signed_headers(x, path)
                try:
                    status, rheaders, data = emulator.send(x.method, path, headers, x.body)
                except (http.client.HTTPException, OSError) as e:
                    o = Outcome(x, "MISMATCH", [f"no answer: {type(e).__name__}: {e}"])
                    file_outcomes[x.fixture].append(o)
                    continue
                result = compare(x, status, rheaders, data)
                o = Outcome(x, "MISMATCH" if result["fail"] else "MATCH", result["fail"])
                o.extras = sorted(set(result["extra"]))
                o.allowed = sorted(set(result["allowed"]))
                file_outcomes[x.fixture].append(o)
        finally:
            emulator.stop()

    for rel, outs in file_outcomes.items():
        if not outs:
            unaccounted.append(f"{rel}: no interaction was replayed or skipped")
        outcomes.extend(outs)

    # --- the table
    width = min(96, max((len(o.i.label) for o in outcomes), default=20))
    print(f"{'RESULT':9} {'FIXTURE':{width}} {'OPERATION':30} DETAIL")
    for o in outcomes:
        x = o.i
        op = x.op or "-"
        if o.kind == "SKIP":
            print(f"{'SKIP':9} {x.label:{width}} {op:30} {o.detail[0]}")
            continue
        notes = []
        if x.note:
            notes.append(x.note)
        if o.allowed:
            notes.append("allowlisted: " + ", ".join(o.allowed))
        if o.extras and args.verbose:
            notes.append("extra: " + ", ".join(o.extras))
        elif o.extras:
            notes.append(f"{len(o.extras)} extra key(s)")
        print(f"{o.kind:9} {x.label:{width}} {op:30} {'; '.join(notes)}")
        for d in o.detail:
            print(f"{'':9}   - {d}")

    matched = [o for o in outcomes if o.kind == "MATCH"]
    mismatched = [o for o in outcomes if o.kind == "MISMATCH"]
    skipped = [o for o in outcomes if o.kind == "SKIP"]
    replayed = len(matched) + len(mismatched)
    print()
    print(f"files: {len(files) if not args.filter else len(file_outcomes) + len(unaccounted)} "
          f"({sum(1 for outs in file_outcomes.values() if any(o.kind != 'SKIP' for o in outs))} "
          f"with replayed interactions, "
          f"{sum(1 for outs in file_outcomes.values() if outs and all(o.kind == 'SKIP' for o in outs))}"
          f" skipped whole, {len(unaccounted)} unaccounted)")
    print(f"interactions: replayed {replayed}, matched {len(matched)}, "
          f"mismatched {len(mismatched)}, skipped {len(skipped)}")
    reasons = collections.Counter(re.sub(r"model \S+ is", "model <id> is", o.detail[0])
                                  for o in skipped)
    print("skip reasons:")
    for reason, n in reasons.most_common():
        print(f"  {n:4}  {reason}")
    if mismatched:
        causes = collections.defaultdict(list)
        for o in mismatched:
            for d in o.detail:
                key = re.sub(r"'[^']*'", "'…'", d) if "message" not in d else d
                key = re.sub(r"\(recorded '…'\)", "", key).strip()
                causes[key].append(o.i.label)
        print("mismatch causes:")
        for cause, labels in sorted(causes.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(labels):4}  {cause}")
    extras = collections.Counter(e for o in outcomes for e in o.extras)
    if extras:
        print("extra keys (the emulator sends them, the recording has none; not a failure):")
        for key, n in extras.most_common():
            print(f"  {n:4}  {key}")
    if unaccounted:
        print("UNACCOUNTED fixture files (neither replayed nor skipped with a reason):")
        for u in unaccounted:
            print(f"  {u}")
    print(f"({time.monotonic() - started:.1f}s; signing: "
          f"{'botocore SigV4' if SigV4Auth else 'bearer key'})")
    return 1 if mismatched or unaccounted else 0


if __name__ == "__main__":
    sys.exit(main())
