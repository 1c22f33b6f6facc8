"""Injected faults ([faults] with probability 1) as botocore sees them: the modeled error classes
and statuses, a reset connection, a stalled response that the client's read timeout ends, and a
mid-stream throttlingException frame (EventStreamError, never retried). Faulted requests before
admission are not charged; a stream throttled midway keeps its whole reservation."""

import unittest

from emulator_process import Emulator, EmulatorTestCase, request_input_tokens, require_boto3, \
    toml_config

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello faults"}]}]


def faults(name):
    return toml_config(extra="\n[faults]\n%s = 1\n" % name)


class ErrorFaultsTest(unittest.TestCase):
    """One short-lived emulator per fault: each is checked first in the fault order."""

    @classmethod
    def setUpClass(cls):
        require_boto3("bedrock-runtime")

    def run_fault(self, name, check):
        emulator = Emulator(faults(name))
        runtime = None
        try:
            runtime = emulator.client("bedrock-runtime", read_timeout=1)
            check(runtime)
            state = emulator.state()
            self.assertEqual(state["faults"]["injected"], 1)
            # Not charged: the books never saw the request.
            self.assertIsNone(emulator.key_state("us-east-1", HAIKU))
        finally:
            if runtime is not None:
                runtime.close()
            emulator.stop()

    def assertCode(self, runtime, code, status):
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as raised:
            runtime.converse(modelId=HAIKU, messages=MESSAGES)
        self.assertEqual(raised.exception.response["Error"]["Code"], code)
        self.assertEqual(raised.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertTrue(raised.exception.response["Error"]["Message"])
        self.assertIsInstance(raised.exception, getattr(runtime.exceptions, code))

    def test_internal_error(self):
        self.run_fault("internal_error",
                       lambda rt: self.assertCode(rt, "InternalServerException", 500))

    def test_service_unavailable(self):
        self.run_fault("service_unavailable",
                       lambda rt: self.assertCode(rt, "ServiceUnavailableException", 503))

    def test_model_timeout(self):
        self.run_fault("model_timeout",
                       lambda rt: self.assertCode(rt, "ModelTimeoutException", 408))

    def test_model_not_ready(self):
        self.run_fault("model_not_ready",
                       lambda rt: self.assertCode(rt, "ModelNotReadyException", 429))

    def test_connection_reset(self):
        from botocore.exceptions import ConnectionClosedError

        def check(runtime):
            with self.assertRaises(ConnectionClosedError):
                runtime.converse(modelId=HAIKU, messages=MESSAGES)

        self.run_fault("connection_reset", check)

    def test_stalled_response_hits_the_read_timeout(self):
        from botocore.exceptions import ReadTimeoutError

        def check(runtime):
            with self.assertRaises(ReadTimeoutError):
                runtime.converse(modelId=HAIKU, messages=MESSAGES)

        self.run_fault("stalled_response", check)


class StreamThrottleTest(EmulatorTestCase):
    CONFIG = faults("stream_throttle")

    def test_mid_stream_throttling_exception(self):
        from botocore.exceptions import EventStreamError

        runtime = self.emulator.client("bedrock-runtime")
        response = runtime.converse_stream(modelId=HAIKU, messages=MESSAGES,
                                           inferenceConfig={"maxTokens": 200})
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 200)
        events = []
        with self.assertRaises(EventStreamError) as raised:
            for event in response["stream"]:
                events.append(event)
        response["stream"].close()
        # botocore reports the member name, lowerCamel (bedrock-wire.md section 3).
        self.assertEqual(raised.exception.response["Error"]["Code"], "throttlingException")
        self.assertEqual(raised.exception.response["Error"]["Message"],
                         "Too many tokens, please wait before trying again.")
        self.assertEqual(list(events[0]), ["messageStart"])
        self.assertTrue(events[1:], "at least one delta comes before the exception")
        self.assertTrue(all(list(e) == ["contentBlockDelta"] for e in events[1:]), events)
        # The server had admitted it: the whole reservation stays charged.
        state = self.emulator.key_state("us-east-1", HAIKU)
        reserved = request_input_tokens({"messages": MESSAGES}) + 200
        self.assertEqual(state["counters"]["reserved_tokens"], reserved)
        self.assertEqual(state["counters"]["settled_tokens"], reserved)

    def test_invoke_stream_throttled_midway_and_plain_calls_unaffected(self):
        import json

        from botocore.exceptions import EventStreamError

        runtime = self.emulator.client("bedrock-runtime", region="us-west-2")
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": "hello"}]}
        response = runtime.invoke_model_with_response_stream(modelId=HAIKU,
                                                             body=json.dumps(body))
        with self.assertRaises(EventStreamError) as raised:
            for _ in response["body"]:
                pass
        response["body"].close()
        self.assertEqual(raised.exception.response["Error"]["Code"], "throttlingException")
        reply = runtime.converse(modelId=HAIKU, messages=MESSAGES)
        self.assertEqual(reply["stopReason"], "end_turn")


if __name__ == "__main__":
    unittest.main()
