"""Shared helpers of the conformance suite: start `quotaflow emulate` on port 0 with a temp TOML
config, build boto3 clients (real SigV4 or bearer) and run the `aws` CLI against it, and an
independent Python reimplementation of the emulator's tokenizer (src/emulator/tokenizer.h) and of
its input-token counting rules (src/emulator/runtime_api.cc), so that usage numbers are checked
against a second implementation instead of against the emulator itself.

Environment:
  QUOTAFLOW_BIN     path of the quotaflow binary (required: the suite fails without it)
  QUOTAFLOW_SHARED  ../shared (not needed by these tests; passed by ctest)
  CI=true           a missing boto3 service or a missing `aws` CLI fails instead of skipping

Isolation: on import this module removes every AWS_* variable from the test process's environment
and points the config and credential files at /dev/null, so that neither the machine's
~/.aws nor a stray AWS_PROFILE / AWS_ENDPOINT_URL / AWS_BEARER_TOKEN_BEDROCK can leak into a test.
Every client is given its credentials, region and endpoint explicitly.
"""

import atexit
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER_KEY = "ABSKQmVkcm9ja0VtdWxhdG9yS2V5"
ACCOUNT_ID = "123456789012"

# How long the emulator may take to print its listening line, and to stop on SIGTERM.
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10


def _scrub_environment():
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


_scrub_environment()


def in_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(message):
    """Skips the test (or class), but fails under CI=true: CI must never pass by skipping."""
    if in_ci():
        raise AssertionError("CI=true, so this is a failure, not a skip: " + message)
    raise unittest.SkipTest(message)


def quotaflow_bin():
    """The quotaflow binary from QUOTAFLOW_BIN; fails (never skips) when unset or missing."""
    path = os.environ.get("QUOTAFLOW_BIN", "")
    if not path:
        raise AssertionError(
            "QUOTAFLOW_BIN is not set: point it at the quotaflow binary, e.g. "
            "QUOTAFLOW_BIN=build/src/cli/quotaflow (ctest sets it)")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise AssertionError("QUOTAFLOW_BIN=%s is not an executable file" % path)
    return path


def require_boto3(*services):
    """Imports boto3 and checks that its botocore knows each service; else skip_or_fail."""
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError as e:
        skip_or_fail("python3 (%s) has no boto3/botocore: %s" % (sys.executable, e))
    import boto3

    available = set(boto3.session.Session().get_available_services())
    missing = [s for s in services if s not in available]
    if missing:
        import botocore

        skip_or_fail("this boto3/botocore (%s) lacks the service model(s) %s"
                     % (botocore.__version__, ", ".join(missing)))


def aws_cli_command():
    """The argv prefix that runs the AWS CLI, or skip_or_fail when there is none.

    `python -m awscli` with this interpreter is preferred: the `aws` on PATH is often a pyenv shim,
    which needs the real HOME that the CLI's isolated environment replaces."""
    try:
        import awscli  # noqa: F401
        return [sys.executable, "-m", "awscli"]
    except ImportError:
        pass
    path = shutil.which("aws")
    if path is None:
        skip_or_fail("the AWS CLI (`aws` or python -m awscli) is not installed")
    return [path]


# --------------------------------------------------------------------------------------------
# The emulator process.


def toml_config(period="1m", output=None, overrides=(), service_quotas=None, seed=7,
                latency=None, extra=""):
    """A TOML config: latency off unless given, the period, output distribution, overrides."""
    output = output or {"distribution": "fixed", "mean": 40}
    latency = latency or {"time_to_first_token": "0", "per_output_token": "0", "jitter": "0"}
    lines = ["seed = %d" % seed, "", "[server]", 'address = "127.0.0.1"', "port = 0", "",
             "[latency]"]
    for key, value in latency.items():
        lines.append("%s = %s" % (key, json.dumps(value)))
    lines += ["", "[quotas]", 'period = "%s"' % period, "", "[output]"]
    for key, value in output.items():
        lines.append("%s = %s" % (key, json.dumps(value)))
    if service_quotas:
        lines += ["", "[service_quotas]"]
        for key, value in service_quotas.items():
            lines.append("%s = %s" % (key, json.dumps(value)))
    for entry in overrides:
        lines += ["", "[[quotas.override]]"]
        for key, value in entry.items():
            lines.append("%s = %s" % (key, json.dumps(value)))
    return "\n".join(lines) + "\n" + extra


# Every emulator process this module started; any still running when the interpreter exits
# (an interrupted run) is killed, so that no test leaves one behind.
_running = []


@atexit.register
def _kill_leftovers():
    for proc in _running:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Emulator:
    """One `quotaflow emulate --config FILE --port 0 --seed N` process."""

    def __init__(self, config_text, seed=7):
        self.binary = quotaflow_bin()
        self._clients = []
        self._drain = None
        self.dir = tempfile.mkdtemp(prefix="qf-conformance-")
        self.config_path = os.path.join(self.dir, "emulator.toml")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "emulate", "--config", self.config_path, "--port", "0",
             "--seed", str(seed)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=self.dir)
        _running.append(self.proc)
        self.listening_line = self._read_listening_line()
        marker = "listening on "
        start = self.listening_line.index(marker) + len(marker)
        url = self.listening_line[start:].split()[0]
        if not url.startswith("http://"):
            self.stop()
            raise AssertionError("unexpected listening line: %r" % self.listening_line)
        self.endpoint = url
        self.port = int(url.rsplit(":", 1)[1])
        # Nothing more is expected on stdout; drain it anyway so the pipe can never fill.
        self._drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self._drain.start()

    def _read_listening_line(self):
        result = {}

        def read():
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    return
                text = line.decode("utf-8", "replace")
                if "listening on http://" in text:
                    result["line"] = text.strip()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if "line" not in result:
            code = self.proc.poll()
            if code is None:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(
                "quotaflow emulate printed no 'listening on http://HOST:PORT' line within %d s "
                "(exit code %s); stderr:\n%s\nconfig:\n%s"
                % (START_TIMEOUT_S, code, self.stderr(), open(self.config_path).read()))
        return result["line"]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then the documented graceful exit (code 0). Returns the exit code."""
        for client in self._clients:
            client.close()
        self._clients = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._stderr.close()
                raise AssertionError("quotaflow emulate did not stop within %d s of SIGTERM"
                                     % STOP_TIMEOUT_S)
        self._stderr.close()
        if self._drain is not None:
            self._drain.join(STOP_TIMEOUT_S)
        self.proc.stdout.close()
        code = self.proc.returncode
        log = self.stderr()
        shutil.rmtree(self.dir, ignore_errors=True)
        if code != 0:
            raise AssertionError("quotaflow emulate exited with %s after SIGTERM; stderr:\n%s"
                                 % (code, log))
        return code

    def state(self):
        """GET /_quotaflow/state, parsed."""
        with urllib.request.urlopen(self.endpoint + "/_quotaflow/state", timeout=10) as r:
            return json.loads(r.read())

    def key_state(self, region, model_id):
        key = "%s/%s" % (region, model_id)
        for entry in self.state()["keys"]:
            if entry["key"] == key:
                return entry
        return None

    # boto3 clients -----------------------------------------------------------------------

    def client(self, service, region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
               **config):
        """A boto3 client that signs with SigV4 (the given pair), retries nothing and talks to
        this emulator only."""
        import boto3
        from botocore.config import Config

        settings = {"retries": {"total_max_attempts": 1, "mode": "standard"},
                    "connect_timeout": 5, "read_timeout": 30}
        settings.update(config)
        session = boto3.session.Session(aws_access_key_id=access_key,
                                        aws_secret_access_key=secret_key, region_name=region)
        return self._track(session.client(service, endpoint_url=self.endpoint,
                                          config=Config(**settings)))

    def _track(self, client):
        self._clients.append(client)  # closed by stop(), so no socket outlives the emulator
        return client

    def bearer_client(self, service, token, region="us-east-1"):
        """A boto3 client with no SigV4 credentials that authenticates as botocore does when
        AWS_BEARER_TOKEN_BEDROCK is set. Use it inside `bearer_env(token)`: botocore reads the
        variable when it picks the signer."""
        import boto3
        from botocore.config import Config

        if os.environ.get("AWS_BEARER_TOKEN_BEDROCK") != token:
            raise AssertionError("bearer_client(%r) outside bearer_env(%r)" % (token, token))
        session = boto3.session.Session(region_name=region)
        return self._track(session.client(
            service, endpoint_url=self.endpoint,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                          connect_timeout=5, read_timeout=30)))

    # the AWS CLI ------------------------------------------------------------------------------

    def aws(self, *args, region="us-east-1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
            check=True, timeout=60):
        """Runs `aws <args> --endpoint-url <emulator> --output json` in an isolated environment
        (temp HOME, config and credential files /dev/null, only this call's credentials).
        Returns (exit code, parsed stdout or None, stderr)."""
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
            "AWS_PAGER": "",
        }
        for name in ("PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH"):
            if name in os.environ:
                env[name] = os.environ[name]
        argv = aws_cli_command() + list(args) + ["--endpoint-url", self.endpoint,
                                                 "--output", "json"]
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, cwd=home)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            raise AssertionError("aws %s failed (exit %d):\n%s\n%s"
                                 % (" ".join(args), proc.returncode, err, out))
        parsed = json.loads(out) if out.strip() else None
        return proc.returncode, parsed, err


@contextlib.contextmanager
def bearer_env(token):
    """AWS_BEARER_TOKEN_BEDROCK=token for the duration (botocore reads it when it signs)."""
    old = os.environ.get("AWS_BEARER_TOKEN_BEDROCK")
    os.environ["AWS_BEARER_TOKEN_BEDROCK"] = token
    try:
        yield
    finally:
        if old is None:
            del os.environ["AWS_BEARER_TOKEN_BEDROCK"]
        else:
            os.environ["AWS_BEARER_TOKEN_BEDROCK"] = old


class EmulatorTestCase(unittest.TestCase):
    """One emulator per test class, started in setUpClass and stopped (exit code checked) in
    tearDownClass. Subclasses set CONFIG (a toml_config(...) string), SEED and SERVICES."""

    CONFIG = None
    SEED = 7
    SERVICES = ("bedrock-runtime",)
    emulator = None

    @classmethod
    def setUpClass(cls):
        require_boto3(*cls.SERVICES)
        cls.emulator = Emulator(cls.CONFIG if cls.CONFIG is not None else toml_config(),
                                seed=cls.SEED)
        # A class cleanup runs even when the rest of a subclass's setUpClass fails.
        cls.addClassCleanup(cls._stop_emulator)

    @classmethod
    def _stop_emulator(cls):
        if cls.emulator is not None:
            emulator, cls.emulator = cls.emulator, None
            emulator.stop()

    def assertClientError(self, call, code, status, message_part=None):
        """Runs `call` and checks it raises botocore's ClientError with `code` and `status`."""
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as raised:
            call()
        error = raised.exception.response["Error"]
        meta = raised.exception.response["ResponseMetadata"]
        self.assertEqual(error.get("Code"), code, raised.exception.response)
        self.assertEqual(meta.get("HTTPStatusCode"), status, raised.exception.response)
        if message_part is not None:
            self.assertIn(message_part, error.get("Message", ""))
        return raised.exception


# --------------------------------------------------------------------------------------------
# The tokenizer, reimplemented from the rules in src/emulator/tokenizer.h.

_SPACES = frozenset(b" \t\n\r\f\v")


def _is_letter(b):
    return 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _is_digit(b):
    return 0x30 <= b <= 0x39


def count_tokens(text):
    """Tokens of `text` under the emulator's documented rules."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    n = len(data)
    i = 0
    tokens = 0
    while i < n:
        c = data[i]
        if c == 0x20 and i + 1 < n and _is_letter(data[i + 1]):
            i += 1  # one space directly before a word joins it
        if _is_letter(data[i]):
            start = i
            while i < n and _is_letter(data[i]):
                i += 1
            letters = i - start
            word = data[start:i]
            if letters >= 2 and word.isupper():  # shouting: a token per two letters
                tokens += (letters + 1) // 2
            else:
                tokens += 1 if letters <= 6 else 1 + (letters - 6 + 3) // 4
        elif _is_digit(c):
            start = i
            while i < n and _is_digit(data[i]):
                i += 1
            tokens += (i - start + 2) // 3
        elif c in _SPACES:
            breaks = 0
            while (i < n and data[i] in _SPACES
                   and not (data[i] == 0x20 and i + 1 < n and _is_letter(data[i + 1]))):
                breaks += data[i] == 0x0A
                i += 1
            tokens += breaks if breaks > 0 else 1
        elif c < 0x80:
            tokens += 1
            i += 1
        else:
            if 0xF0 <= c <= 0xF4:
                length = 4
            elif c >= 0xE0:
                length = 3 if c <= 0xEF else 1
            elif c >= 0xC2:
                length = 2
            else:
                length = 1
            j = 1
            while j < length and i + j < n and (data[i + j] & 0xC0) == 0x80:
                j += 1
            i += length if j == length else 1
            tokens += 1
    return tokens


# Keys whose string values are settings, not prompt (runtime_api.cc).
_SETTINGS = frozenset([
    "anthropic_version", "anthropic_beta", "role", "type", "format", "toolUseId", "tool_use_id",
    "id", "status", "model", "inferenceConfig", "textGenerationConfig",
    "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig",
    "guardrailConfig", "serviceTier", "stop_sequences", "stop", "ttl", "media_type"])


def _visit(value, key):
    if isinstance(value, str):
        if key in ("bytes", "data"):
            return len(value) // 4 + 1
        return 0 if key in _SETTINGS else count_tokens(value)
    if isinstance(value, list):
        total = 0
        for item in value:
            if key == "messages":
                total += 3  # role markers around each turn
            total += _visit(item, key)
        return total
    if isinstance(value, dict):
        return sum(_visit(child, k) for k, child in value.items()
                   if k not in ("cachePoint", "cache_control"))
    return 0  # numbers, booleans, null


def request_input_tokens(body):
    """Input tokens of a Converse-shaped or native JSON request body (a dict as sent)."""
    return sum(_visit(child, key) for key, child in body.items() if key not in _SETTINGS)


def decode_b64_json(data):
    return json.loads(base64.b64decode(data))


def wait_until(predicate, timeout, interval=0.25):
    """Polls `predicate` until it returns a truthy value or `timeout` s pass; returns the last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
