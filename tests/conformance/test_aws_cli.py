"""The AWS CLI (v1, from the machine image) against the emulator with --endpoint-url, each call
in an isolated environment (temp HOME, no config files, credentials in the environment only),
its JSON output parsed and checked."""

import datetime
import json
import os
import time
import unittest

from emulator_process import (EmulatorTestCase, aws_cli_command, count_tokens,
                              request_input_tokens, toml_config)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU35 = "anthropic.claude-3-5-haiku-20241022-v1:0"  # CountTokens counts for it
SONNET4_US = "us.anthropic.claude-sonnet-4-20250514-v1:0"
OUTPUT_TOKENS = 25
REGION = "us-east-2"


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class AwsCliTest(EmulatorTestCase):
    CONFIG = toml_config(output={"distribution": "fixed", "mean": OUTPUT_TOKENS})
    SERVICES = ("bedrock-runtime", "bedrock", "service-quotas", "cloudwatch")

    @classmethod
    def setUpClass(cls):
        aws_cli_command()  # skip (or fail under CI) before starting anything
        super().setUpClass()
        cls.started = time.time()

    def aws(self, *args, **kwargs):
        kwargs.setdefault("region", REGION)
        return self.emulator.aws(*args, **kwargs)

    def test_converse_then_cloudwatch_sees_it(self):
        messages = [{"role": "user", "content": [{"text": "Hello from the AWS CLI, 2 times"}]}]
        _, reply, _ = self.aws("bedrock-runtime", "converse", "--model-id", SONNET4_US,
                               "--messages", json.dumps(messages),
                               "--inference-config", json.dumps({"maxTokens": 200}))
        self.assertEqual(reply["stopReason"], "end_turn")
        text = reply["output"]["message"]["content"][0]["text"]
        self.assertTrue(text.strip())
        self.assertEqual(reply["usage"]["inputTokens"],
                         request_input_tokens({"messages": messages}))
        self.assertEqual(reply["usage"]["outputTokens"], OUTPUT_TOKENS)
        self.assertEqual(count_tokens(text), OUTPUT_TOKENS)

        _, stats, _ = self.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/Bedrock",
                               "--metric-name", "OutputTokenCount", "--dimensions",
                               "Name=ModelId,Value=" + SONNET4_US,
                               "--start-time", iso(self.started - 180),
                               "--end-time", iso(time.time() + 60), "--period", "60",
                               "--statistics", "Sum", "SampleCount")
        self.assertEqual(stats["Label"], "OutputTokenCount")
        self.assertEqual(sum(p["Sum"] for p in stats["Datapoints"]), OUTPUT_TOKENS)
        self.assertEqual(sum(p["SampleCount"] for p in stats["Datapoints"]), 1)

    def test_count_tokens_and_invoke_model(self):
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": "Count me in"}]}
        converse = {"messages": [{"role": "user", "content": [{"text": "Count me in"}]}]}
        _, counted, _ = self.aws("bedrock-runtime", "count-tokens", "--model-id", HAIKU35,
                                 "--input", json.dumps({"converse": converse}))
        self.assertEqual(counted["inputTokens"], request_input_tokens(converse))

        outfile = os.path.join(self.emulator.dir, "home", "invoke-out.json")
        _, meta, _ = self.aws("bedrock-runtime", "invoke-model", "--model-id", HAIKU,
                              "--content-type", "application/json",
                              "--body", json.dumps(body), outfile)
        self.assertEqual(meta["contentType"], "application/json")
        with open(outfile) as f:
            reply = json.load(f)
        self.assertEqual(reply["usage"]["input_tokens"], request_input_tokens(body))
        self.assertEqual(reply["usage"]["output_tokens"], OUTPUT_TOKENS)
        self.assertEqual(reply["stop_reason"], "end_turn")

    def test_service_quotas_listing(self):
        _, listed, _ = self.aws("service-quotas", "list-service-quotas", "--service-code",
                                "bedrock", "--page-size", "20")
        codes = [q["QuotaCode"] for q in listed["Quotas"]]
        self.assertGreater(len(codes), 20, "the CLI should have walked several pages")
        self.assertEqual(len(codes), len(set(codes)))
        self.assertNotIn("NextToken", listed)
        # The CLI's walk equals boto3's.
        sq = self.emulator.client("service-quotas", region=REGION)
        expected = [q["QuotaCode"] for page in sq.get_paginator("list_service_quotas").paginate(
            ServiceCode="bedrock") for q in page["Quotas"]]
        self.assertEqual(codes, expected)
        _, one, _ = self.aws("service-quotas", "get-service-quota", "--service-code", "bedrock",
                             "--quota-code", codes[0])
        self.assertEqual(one["Quota"]["QuotaCode"], codes[0])
        self.assertIsInstance(one["Quota"]["Value"], float)

    def test_inference_profiles(self):
        _, listed, _ = self.aws("bedrock", "list-inference-profiles")
        ids = [p["inferenceProfileId"] for p in listed["inferenceProfileSummaries"]]
        self.assertIn(SONNET4_US, ids)
        self.assertEqual(len(ids), len(set(ids)))
        _, profile, _ = self.aws("bedrock", "get-inference-profile",
                                 "--inference-profile-identifier", SONNET4_US)
        regions = {m["modelArn"].split(":")[3] for m in profile["models"]}
        self.assertEqual(regions, {"us-east-1", "us-east-2", "us-west-2"})

    def test_wrong_secret_fails_with_the_aws_error(self):
        code, _, err = self.aws("service-quotas", "list-service-quotas", "--service-code",
                                "bedrock", secret_key="wrong-secret", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("InvalidSignatureException", err)
        code, _, err = self.aws("bedrock-runtime", "converse", "--model-id", HAIKU, "--messages",
                                '[{"role":"user","content":[{"text":"x"}]}]',
                                access_key="AKIAUNKNOWNKEY000000", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("UnrecognizedClientException", err)


if __name__ == "__main__":
    unittest.main()
