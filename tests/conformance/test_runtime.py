"""bedrock-runtime through boto3 over real HTTP and SigV4: Converse, ConverseStream, InvokeModel,
InvokeModelWithResponseStream and CountTokens, with usage checked against an independent
implementation of the emulator's tokenizer (emulator_process.count_tokens), plus Bedrock's
validation errors and throttling as botocore parses them."""

import base64
import json
import unittest

from emulator_process import (EmulatorTestCase, count_tokens, request_input_tokens,
                              toml_config)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"  # on-demand, max output 4096
HAIKU35 = "anthropic.claude-3-5-haiku-20241022-v1:0"  # on-demand; CountTokens counts for it
SONNET4 = "anthropic.claude-sonnet-4-20250514-v1:0"  # profile-only
SONNET4_US = "us." + SONNET4
NOVA_MICRO = "amazon.nova-micro-v1:0"
TITAN = "amazon.titan-text-express-v1"
LLAMA = "meta.llama3-8b-instruct-v1:0"

OUTPUT_TOKENS = 40  # [output] distribution = "fixed", mean = 40

SYSTEM = [{"text": "You are a careful contract reviewer. Answer in 3 sentences."}]
PROMPT = ("Summarise the indemnification clause of contract 2024-118: the supplier "
          "shall hold harmless the customer, café included, within 30 days.\nThanks!")


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def converse_tokens(messages, system=None):
    body = {"messages": messages}
    if system is not None:
        body["system"] = system
    return request_input_tokens(body)


class RuntimeTest(EmulatorTestCase):
    CONFIG = toml_config(output={"distribution": "fixed", "mean": OUTPUT_TOKENS})
    SERVICES = ("bedrock-runtime",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.runtime = cls.emulator.client("bedrock-runtime", region="us-east-1")

    def test_tokenizer_reimplementation_matches_documented_examples(self):
        # The examples in src/emulator/tokenizer.h, so that a wrong reimplementation fails here
        # first rather than as a usage mismatch.
        self.assertEqual(count_tokens("The"), 1)
        self.assertEqual(count_tokens(" contract"), 2)
        self.assertEqual(count_tokens(" indemnification"), 4)
        self.assertEqual(count_tokens("12345"), 2)
        self.assertEqual(count_tokens("a\n\nb"), 4)
        self.assertEqual(count_tokens("é"), 1)

    def test_converse_usage_text_and_stop_reason(self):
        messages = [user(PROMPT)]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages, system=SYSTEM,
                                      inferenceConfig={"maxTokens": 200, "temperature": 0.5})
        self.assertEqual(reply["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertTrue(reply["ResponseMetadata"]["RequestId"])
        message = reply["output"]["message"]
        self.assertEqual(message["role"], "assistant")
        text = message["content"][0]["text"]
        self.assertTrue(text.strip())
        self.assertEqual(reply["stopReason"], "end_turn")
        usage = reply["usage"]
        self.assertEqual(usage["inputTokens"], converse_tokens(messages, SYSTEM))
        self.assertEqual(usage["outputTokens"], OUTPUT_TOKENS)
        self.assertEqual(count_tokens(text), usage["outputTokens"])
        self.assertEqual(usage["totalTokens"], usage["inputTokens"] + usage["outputTokens"])
        # Models with prompt caching report the cache counts even when nothing was cached.
        self.assertEqual(usage["cacheReadInputTokens"], 0)
        self.assertEqual(usage["cacheWriteInputTokens"], 0)
        self.assertIsInstance(reply["metrics"]["latencyMs"], int)
        self.assertGreaterEqual(reply["metrics"]["latencyMs"], 0)

    def test_converse_max_tokens_cuts_output(self):
        messages = [user("Write a long essay about quotas.")]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages,
                                      inferenceConfig={"maxTokens": 7})
        self.assertEqual(reply["stopReason"], "max_tokens")
        self.assertEqual(reply["usage"]["outputTokens"], 7)
        self.assertEqual(count_tokens(reply["output"]["message"]["content"][0]["text"]), 7)
        self.assertEqual(reply["usage"]["inputTokens"], converse_tokens(messages))

    def test_converse_multi_turn_counts_every_message(self):
        messages = [user("What is a token bucket?"),
                    {"role": "assistant", "content": [{"text": "A rate limiter."}]},
                    user("And a sliding window?")]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages)
        self.assertEqual(reply["usage"]["inputTokens"], converse_tokens(messages))
        self.assertEqual(reply["stopReason"], "end_turn")

    def test_converse_is_deterministic(self):
        messages = [user("Same question, same answer?")]
        first = self.runtime.converse(modelId=HAIKU, messages=messages)
        second = self.runtime.converse(modelId=HAIKU, messages=messages)
        self.assertEqual(first["output"], second["output"])
        self.assertEqual(first["usage"], second["usage"])

    def test_converse_through_cross_region_profile(self):
        messages = [user("Hello through a profile")]
        reply = self.runtime.converse(modelId=SONNET4_US, messages=messages,
                                      inferenceConfig={"maxTokens": 100})
        self.assertEqual(reply["usage"]["inputTokens"], converse_tokens(messages))
        self.assertEqual(reply["usage"]["outputTokens"], OUTPUT_TOKENS)
        state = self.emulator.key_state("us-east-1", SONNET4_US)
        self.assertIsNotNone(state, "no books for us-east-1/" + SONNET4_US)
        self.assertGreaterEqual(state["counters"]["admitted"], 1)

    def test_converse_stream_event_order_and_usage(self):
        messages = [user(PROMPT)]
        response = self.runtime.converse_stream(modelId=HAIKU, messages=messages, system=SYSTEM,
                                                inferenceConfig={"maxTokens": 300})
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 200)
        events = list(response["stream"])
        kinds = [next(iter(e)) for e in events]
        self.assertEqual(kinds[0], "messageStart", kinds)
        self.assertEqual(events[0]["messageStart"]["role"], "assistant")
        self.assertEqual(kinds[-3:], ["contentBlockStop", "messageStop", "metadata"], kinds)
        deltas = kinds[1:-3]
        self.assertGreater(len(deltas), 1, kinds)
        self.assertEqual(set(deltas), {"contentBlockDelta"}, kinds)
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:-3])
        for e in events[1:-3]:
            self.assertEqual(e["contentBlockDelta"]["contentBlockIndex"], 0)
        self.assertTrue(text.strip())
        self.assertEqual(events[-2]["messageStop"]["stopReason"], "end_turn")
        usage = events[-1]["metadata"]["usage"]
        self.assertEqual(usage["inputTokens"], converse_tokens(messages, SYSTEM))
        self.assertEqual(usage["outputTokens"], OUTPUT_TOKENS)
        self.assertEqual(usage["totalTokens"], usage["inputTokens"] + usage["outputTokens"])
        self.assertEqual(count_tokens(text), OUTPUT_TOKENS)
        self.assertIn("latencyMs", events[-1]["metadata"]["metrics"])

    def test_converse_stream_max_tokens(self):
        response = self.runtime.converse_stream(modelId=HAIKU, messages=[user("Go on.")],
                                                inferenceConfig={"maxTokens": 9})
        events = list(response["stream"])
        stop = [e["messageStop"] for e in events if "messageStop" in e]
        self.assertEqual(stop, [{"stopReason": "max_tokens"}])
        self.assertEqual(events[-1]["metadata"]["usage"]["outputTokens"], 9)

    def test_invoke_model_anthropic_native_body(self):
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512,
                "system": "Be brief.", "messages": [{"role": "user", "content": PROMPT}]}
        response = self.runtime.invoke_model(modelId=HAIKU, body=json.dumps(body),
                                             contentType="application/json",
                                             accept="application/json")
        self.assertEqual(response["contentType"], "application/json")
        reply = json.loads(response["body"].read())
        self.assertEqual(reply["type"], "message")
        self.assertEqual(reply["role"], "assistant")
        self.assertEqual(reply["content"][0]["type"], "text")
        self.assertTrue(reply["content"][0]["text"].strip())
        self.assertEqual(reply["stop_reason"], "end_turn")
        expected_input = request_input_tokens(body)
        self.assertEqual(reply["usage"]["input_tokens"], expected_input)
        self.assertEqual(reply["usage"]["output_tokens"], OUTPUT_TOKENS)
        self.assertEqual(count_tokens(reply["content"][0]["text"]), OUTPUT_TOKENS)
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        self.assertEqual(int(headers["x-amzn-bedrock-input-token-count"]), expected_input)
        self.assertEqual(int(headers["x-amzn-bedrock-output-token-count"]), OUTPUT_TOKENS)
        self.assertIn("x-amzn-bedrock-invocation-latency", headers)

    def test_invoke_model_nova_native_body(self):
        body = {"schemaVersion": "messages-v1", "messages": [user("Name three rivers.")],
                "inferenceConfig": {"max_new_tokens": 8}}
        response = self.runtime.invoke_model(modelId=NOVA_MICRO, body=json.dumps(body))
        reply = json.loads(response["body"].read())
        self.assertEqual(reply["stopReason"], "max_tokens")
        self.assertEqual(reply["output"]["message"]["role"], "assistant")
        self.assertEqual(reply["usage"]["outputTokens"], 8)
        self.assertEqual(reply["usage"]["inputTokens"], request_input_tokens(body))
        self.assertEqual(count_tokens(reply["output"]["message"]["content"][0]["text"]), 8)

    def test_invoke_model_titan_and_llama_bodies(self):
        titan_body = {"inputText": "Explain rate limits in 2 lines.",
                      "textGenerationConfig": {"maxTokenCount": 100, "temperature": 0}}
        reply = json.loads(self.runtime.invoke_model(modelId=TITAN, body=json.dumps(titan_body))
                           ["body"].read())
        self.assertEqual(reply["inputTextTokenCount"], request_input_tokens(titan_body))
        self.assertEqual(reply["results"][0]["tokenCount"], OUTPUT_TOKENS)
        self.assertEqual(reply["results"][0]["completionReason"], "FINISH")
        self.assertEqual(count_tokens(reply["results"][0]["outputText"]), OUTPUT_TOKENS)

        llama_body = {"prompt": "<|begin_of_text|>Hi there", "max_gen_len": 16}
        reply = json.loads(self.runtime.invoke_model(modelId=LLAMA, body=json.dumps(llama_body))
                           ["body"].read())
        self.assertEqual(reply["prompt_token_count"], request_input_tokens(llama_body))
        self.assertEqual(reply["generation_token_count"], 16)
        self.assertEqual(reply["stop_reason"], "length")
        self.assertEqual(count_tokens(reply["generation"]), 16)

    def test_invoke_model_with_response_stream_anthropic(self):
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
                "messages": [{"role": "user", "content": "Stream me a reply."}]}
        response = self.runtime.invoke_model_with_response_stream(modelId=HAIKU,
                                                                  body=json.dumps(body))
        self.assertEqual(response["contentType"], "application/json")
        chunks = []
        for event in response["body"]:
            self.assertEqual(list(event), ["chunk"], event)
            chunks.append(json.loads(event["chunk"]["bytes"]))
        types = [c["type"] for c in chunks]
        self.assertEqual(types[:2], ["message_start", "content_block_start"], types)
        self.assertEqual(types[-3:], ["content_block_stop", "message_delta", "message_stop"],
                         types)
        self.assertEqual(set(types[2:-3]), {"content_block_delta"}, types)
        expected_input = request_input_tokens(body)
        self.assertEqual(chunks[0]["message"]["role"], "assistant")
        self.assertEqual(chunks[0]["message"]["usage"]["input_tokens"], expected_input)
        text = "".join(c["delta"]["text"] for c in chunks[2:-3])
        self.assertTrue(text.strip())
        self.assertEqual(count_tokens(text), OUTPUT_TOKENS)
        self.assertEqual(chunks[-2]["delta"]["stop_reason"], "end_turn")
        self.assertEqual(chunks[-2]["usage"]["output_tokens"], OUTPUT_TOKENS)
        metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
        self.assertEqual(metrics["inputTokenCount"], expected_input)
        self.assertEqual(metrics["outputTokenCount"], OUTPUT_TOKENS)

    def test_invoke_model_with_response_stream_nova(self):
        body = {"messages": [user("Stream from Nova")],
                "inferenceConfig": {"max_new_tokens": 100}}
        response = self.runtime.invoke_model_with_response_stream(modelId=NOVA_MICRO,
                                                                  body=json.dumps(body))
        chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
        kinds = [next(k for k in c if k != "amazon-bedrock-invocationMetrics") for c in chunks]
        self.assertEqual(kinds[0], "messageStart")
        self.assertEqual(kinds[-3:], ["contentBlockStop", "messageStop", "metadata"])
        # Nova's native stream closes a content block after every delta, as recorded on Bedrock.
        self.assertEqual(set(kinds[1:-2]), {"contentBlockDelta", "contentBlockStop"})
        text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks
                       if "contentBlockDelta" in c)
        self.assertEqual(count_tokens(text), OUTPUT_TOKENS)
        self.assertEqual(chunks[-2]["messageStop"]["stopReason"], "end_turn")
        self.assertEqual(chunks[-1]["metadata"]["usage"]["inputTokens"],
                         request_input_tokens(body))
        self.assertEqual(chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
                         OUTPUT_TOKENS)

    def test_count_tokens_matches_converse_and_invoke(self):
        messages = [user(PROMPT)]
        counted = self.runtime.count_tokens(
            modelId=HAIKU35, input={"converse": {"messages": messages, "system": SYSTEM}})
        expected = converse_tokens(messages, SYSTEM)
        self.assertEqual(counted["inputTokens"], expected)
        reply = self.runtime.converse(modelId=HAIKU35, messages=messages, system=SYSTEM)
        self.assertEqual(reply["usage"]["inputTokens"], counted["inputTokens"])

        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": PROMPT}]}
        counted = self.runtime.count_tokens(
            modelId=HAIKU35, input={"invokeModel": {"body": json.dumps(body).encode()}})
        self.assertEqual(counted["inputTokens"], request_input_tokens(body))

    def test_count_tokens_is_free_and_allowed_for_profile_only_models(self):
        before = self.emulator.key_state("us-east-1", SONNET4)
        counted = self.runtime.count_tokens(modelId=SONNET4,
                                            input={"converse": {"messages": [user("Hi")]}})
        self.assertEqual(counted["inputTokens"], converse_tokens([user("Hi")]))
        self.assertEqual(before, self.emulator.key_state("us-east-1", SONNET4))

    def test_count_tokens_refuses_models_that_do_not_count_and_profile_ids(self):
        # Bedrock counts for a few Claude models, named as foundation models.
        for model, message in [
                (HAIKU, "The provided model doesn't support counting tokens."),
                (NOVA_MICRO, "The provided model doesn't support counting tokens."),
                (SONNET4_US, "The provided model identifier is invalid.")]:
            with self.assertRaises(self.runtime.exceptions.ValidationException) as raised:
                self.runtime.count_tokens(modelId=model,
                                          input={"converse": {"messages": [user("Hi")]}})
            self.assertEqual(raised.exception.response["Error"]["Message"], message, model)
            self.assertEqual(
                raised.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        # Nor does it count documents, even for a model that counts text.
        document = {"document": {"format": "txt", "name": "contract",
                                 "source": {"bytes": b"The parties agree."}}}
        with self.assertRaises(self.runtime.exceptions.ValidationException) as raised:
            self.runtime.count_tokens(modelId=SONNET4, input={"converse": {"messages": [
                {"role": "user", "content": [{"text": "Summarize."}, document]}]}})
        self.assertEqual(raised.exception.response["Error"]["Message"],
                         "Document input not supported for token counting")

    def test_prompt_cache_write_then_read(self):
        # A cachePoint after a prefix of at least 1,024 tokens: the first call writes the cache,
        # the second reads it; inputTokens bills only what follows the checkpoint.
        prefix = " ".join("clause%d governs" % i for i in range(600))
        system = [{"text": prefix}, {"cachePoint": {"type": "default"}}]
        prefix_tokens = count_tokens(prefix)
        self.assertGreaterEqual(prefix_tokens, 1024)
        usages = []
        for question in ("First question?", "Second question?"):
            messages = [user(question)]
            reply = self.runtime.converse(modelId=HAIKU, messages=messages, system=system)
            usages.append(reply["usage"])
            self.assertEqual(reply["usage"]["inputTokens"], converse_tokens(messages))
        self.assertEqual(usages[0]["cacheWriteInputTokens"], prefix_tokens)
        self.assertEqual(usages[0]["cacheReadInputTokens"], 0)
        self.assertEqual(usages[1]["cacheReadInputTokens"], prefix_tokens)
        self.assertEqual(usages[1]["cacheWriteInputTokens"], 0)
        for usage in usages:
            self.assertEqual(usage["totalTokens"], usage["inputTokens"] + usage["outputTokens"]
                             + prefix_tokens)
        # A short prefix is never cached.
        reply = self.runtime.converse(modelId=HAIKU, messages=[user("q")], system=[
            {"text": "short"}, {"cachePoint": {"type": "default"}}])
        self.assertEqual(reply["usage"]["cacheWriteInputTokens"], 0)
        self.assertEqual(reply["usage"]["cacheReadInputTokens"], 0)

    def test_image_and_tool_config_are_counted(self):
        image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
        messages = [{"role": "user", "content": [
            {"text": "What is in this picture?"},
            {"image": {"format": "png", "source": {"bytes": image}}}]}]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages)
        # botocore sends the bytes base64-encoded; the emulator counts ~1 token per 4 characters.
        sent = {"messages": [{"role": "user", "content": [
            {"text": "What is in this picture?"},
            {"image": {"format": "png",
                       "source": {"bytes": base64.b64encode(image).decode()}}}]}]}
        self.assertEqual(reply["usage"]["inputTokens"], request_input_tokens(sent))

        tools = {"tools": [{"toolSpec": {
            "name": "get_weather", "description": "Get the current weather for a city",
            "inputSchema": {"json": {"type": "object", "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"}},
                "required": ["city"]}}}}]}
        messages = [user("Weather in Paris?")]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages, toolConfig=tools)
        expected = request_input_tokens({"messages": messages, "toolConfig": tools})
        self.assertEqual(reply["usage"]["inputTokens"], expected)
        counted = self.runtime.count_tokens(modelId=HAIKU35, input={"converse": {
            "messages": messages, "toolConfig": tools}})
        self.assertEqual(counted["inputTokens"], expected)

    def test_model_arns_as_model_id(self):
        arn = "arn:aws:bedrock:us-east-1::foundation-model/" + HAIKU
        reply = self.runtime.converse(modelId=arn, messages=[user("by arn")])
        self.assertEqual(reply["usage"]["outputTokens"], OUTPUT_TOKENS)
        arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + SONNET4_US
        reply = self.runtime.converse(modelId=arn, messages=[user("by profile arn")])
        self.assertEqual(reply["usage"]["outputTokens"], OUTPUT_TOKENS)

    def test_validation_errors(self):
        self.assertClientError(
            lambda: self.runtime.converse(modelId=HAIKU, messages=[user("x")],
                                          inferenceConfig={"maxTokens": 5000}),
            "ValidationException", 400, "exceeds the model limit of 4096")
        self.assertClientError(
            lambda: self.runtime.converse(modelId=HAIKU, messages=[]),
            "ValidationException", 400, "must start with a user message")
        self.assertClientError(
            lambda: self.runtime.converse(modelId="anthropic.claude-v9", messages=[user("x")]),
            "ValidationException", 400, "The provided model identifier is invalid.")
        self.assertClientError(
            lambda: self.runtime.converse(modelId=SONNET4, messages=[user("x")]),
            "ValidationException", 400, "on-demand throughput")
        # An eu. profile is not served from us-east-1.
        self.assertClientError(
            lambda: self.runtime.converse(modelId="eu." + SONNET4, messages=[user("x")]),
            "ValidationException", 400, "The provided model identifier is invalid.")
        body = {"anthropic_version": "bedrock-2023-05-31",
                "messages": [{"role": "user", "content": "no max_tokens"}]}
        self.assertClientError(
            lambda: self.runtime.invoke_model(modelId=HAIKU, body=json.dumps(body)),
            "ValidationException", 400, "required key [max_tokens] not found")

    def test_error_class_is_modeled(self):
        # botocore maps the code to the modeled exception class.
        with self.assertRaises(self.runtime.exceptions.ValidationException):
            self.runtime.converse(modelId=HAIKU, messages=[user("x")],
                                  inferenceConfig={"maxTokens": 99999})


class ThrottlingTest(EmulatorTestCase):
    """A tiny TPM on one model in us-west-2: every API throttles a request whose reservation
    (input + max tokens) exceeds it, with ThrottlingException / 429, and botocore with
    retries off makes exactly one attempt."""

    REGION = "us-west-2"
    TPM = 300
    CONFIG = toml_config(output={"distribution": "fixed", "mean": OUTPUT_TOKENS}, overrides=[
        {"region": "us-west-2", "model": HAIKU, "tokens_per_minute": 300}])

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.runtime = cls.emulator.client("bedrock-runtime", region=cls.REGION)

    def test_every_api_throttles_and_is_not_retried(self):
        big = {"maxTokens": 1000}  # reservation > 300
        anthropic = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1000,
                                "messages": [{"role": "user", "content": "x"}]})
        calls = [
            lambda: self.runtime.converse(modelId=HAIKU, messages=[user("x")],
                                          inferenceConfig=big),
            lambda: self.runtime.converse_stream(modelId=HAIKU, messages=[user("x")],
                                                 inferenceConfig=big),
            lambda: self.runtime.invoke_model(modelId=HAIKU, body=anthropic),
            lambda: self.runtime.invoke_model_with_response_stream(modelId=HAIKU, body=anthropic),
        ]
        for call in calls:
            error = self.assertClientError(call, "ThrottlingException", 429,
                                           "Too many tokens, please wait before trying again.")
            self.assertEqual(error.response["ResponseMetadata"].get("RetryAttempts"), 0)
        with self.assertRaises(self.runtime.exceptions.ThrottlingException):
            calls[0]()
        state = self.emulator.key_state(self.REGION, HAIKU)
        self.assertIsNotNone(state)
        self.assertEqual(state["counters"]["throttled"], 5)
        self.assertEqual(state["counters"]["throttled_tokens_per_minute"], 5)
        self.assertEqual(state["tokens"]["limit"], self.TPM)

        # Throttled requests are not charged: a small one still fits, and settles at
        # input + output.
        messages = [user("small")]
        reply = self.runtime.converse(modelId=HAIKU, messages=messages,
                                      inferenceConfig={"maxTokens": 50})
        self.assertEqual(reply["usage"]["outputTokens"], OUTPUT_TOKENS)
        state = self.emulator.key_state(self.REGION, HAIKU)
        self.assertEqual(state["counters"]["admitted"], 1)
        self.assertEqual(state["counters"]["settled_tokens"],
                         converse_tokens(messages) + OUTPUT_TOKENS)

    def test_quota_is_per_region(self):
        # The same model in another region has the default quota.
        other = self.emulator.client("bedrock-runtime", region="us-east-2")
        reply = other.converse(modelId=HAIKU, messages=[user("x")],
                               inferenceConfig={"maxTokens": 1000})
        self.assertEqual(reply["stopReason"], "end_turn")
        self.assertIsNotNone(self.emulator.key_state("us-east-2", HAIKU))


class LatencyAndConcurrencyTest(EmulatorTestCase):
    """The latency model (800 ms to the first token + 5 ms per output token, no jitter) as the
    client observes it, and max_concurrency answered with 503 ServiceUnavailableException."""

    TTFT_MS = 800
    PER_TOKEN_MS = 5
    CONFIG = toml_config(
        output={"distribution": "fixed", "mean": OUTPUT_TOKENS},
        latency={"time_to_first_token": "800ms", "per_output_token": "5ms", "jitter": "0"},
        overrides=[{"region": "us-east-1", "model": HAIKU, "max_concurrency": 1}])
    SERVICES = ("bedrock-runtime", "cloudwatch")

    def test_latency_is_reported_and_felt(self):
        import time

        runtime = self.emulator.client("bedrock-runtime", region="us-west-2")
        expected = self.TTFT_MS + self.PER_TOKEN_MS * OUTPUT_TOKENS
        started = time.monotonic()
        reply = runtime.converse(modelId=NOVA_MICRO, messages=[user("slow")])
        elapsed_ms = (time.monotonic() - started) * 1000
        self.assertEqual(reply["metrics"]["latencyMs"], expected)
        self.assertGreaterEqual(elapsed_ms, expected - 50)

        started = time.monotonic()
        response = runtime.converse_stream(modelId=NOVA_MICRO, messages=[user("slow stream")])
        first_delta_ms = None
        for event in response["stream"]:
            if "contentBlockDelta" in event and first_delta_ms is None:
                first_delta_ms = (time.monotonic() - started) * 1000
            if "metadata" in event:
                self.assertEqual(event["metadata"]["metrics"]["latencyMs"], expected)
        total_ms = (time.monotonic() - started) * 1000
        self.assertGreaterEqual(first_delta_ms, self.TTFT_MS - 50)
        self.assertGreaterEqual(total_ms, expected - 50)

        import datetime
        now = datetime.datetime.now(datetime.timezone.utc)
        cloudwatch = self.emulator.client("cloudwatch", region="us-west-2")
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock", MetricName="TimeToFirstToken",
            Dimensions=[{"Name": "ModelId", "Value": NOVA_MICRO}],
            StartTime=now - datetime.timedelta(minutes=5),
            EndTime=now + datetime.timedelta(minutes=1), Period=60,
            Statistics=["Maximum", "SampleCount"])["Datapoints"]
        self.assertEqual(sum(p["SampleCount"] for p in points), 1)
        self.assertEqual(max(p["Maximum"] for p in points), self.TTFT_MS)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Bedrock", MetricName="InvocationLatency",
            Dimensions=[{"Name": "ModelId", "Value": NOVA_MICRO}],
            StartTime=now - datetime.timedelta(minutes=5),
            EndTime=now + datetime.timedelta(minutes=1), Period=60,
            Statistics=["Minimum", "Maximum", "SampleCount"])["Datapoints"]
        self.assertEqual(sum(p["SampleCount"] for p in points), 2)
        self.assertEqual(min(p["Minimum"] for p in points), expected)
        self.assertEqual(max(p["Maximum"] for p in points), expected)

    def test_max_concurrency_gives_service_unavailable(self):
        import threading

        from botocore.exceptions import ClientError

        outcomes = []
        lock = threading.Lock()
        # Clients first (creating one is slow), then all three requests at once: the first one
        # admitted stays in flight for a second.
        clients = [self.emulator.client("bedrock-runtime") for _ in range(3)]
        barrier = threading.Barrier(3)

        def call(i):
            runtime = clients[i]
            barrier.wait(10)
            try:
                runtime.converse(modelId=HAIKU, messages=[user("parallel %d" % i)])
                outcome = ("ok", 200)
            except ClientError as e:
                outcome = (e.response["Error"]["Code"],
                           e.response["ResponseMetadata"]["HTTPStatusCode"],
                           e.response["Error"]["Message"])
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(outcomes), 3)
        self.assertEqual(sorted(o[:2] for o in outcomes),
                         [("ServiceUnavailableException", 503)] * 2 + [("ok", 200)])
        for o in outcomes:
            if o[0] != "ok":
                self.assertEqual(o[2], "Too many connections, please wait before trying again.")
        state = self.emulator.key_state("us-east-1", HAIKU)
        self.assertEqual(state["counters"]["throttled_concurrency"], 2)
        self.assertEqual(state["in_flight"], 0)


if __name__ == "__main__":
    unittest.main()
