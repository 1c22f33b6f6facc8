"""Authentication as botocore performs it: SigV4 accepted with the configured key pair and refused
with a wrong secret (InvalidSignatureException) or an unknown key id (UnrecognizedClientException)
on every API and protocol; Bedrock API keys via AWS_BEARER_TOKEN_BEDROCK accepted by bedrock and
bedrock-runtime and a wrong key refused with 403; the region a request is served in."""

import json
import unittest
import urllib.error
import urllib.request

from emulator_process import (ACCESS_KEY, BEARER_KEY, SECRET_KEY, EmulatorTestCase,
                              bearer_env, toml_config)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU35 = "anthropic.claude-3-5-haiku-20241022-v1:0"  # CountTokens counts for it

KEY_ID = "AKIACONFORMANCE00001"
SECRET = "conformance/secret+key/0123456789abcdefABCDEF"
BEARER = "ABSKY29uZm9ybWFuY2Uta2V5"

AUTH = """
[auth]
bearer_keys = ["%s"]

[[auth.credentials]]
access_key_id = "%s"
secret_access_key = "%s"
""" % (BEARER, KEY_ID, SECRET)


def user(text):
    return {"role": "user", "content": [{"text": text}]}


class AuthTest(EmulatorTestCase):
    CONFIG = toml_config(extra=AUTH)
    SERVICES = ("bedrock-runtime", "bedrock", "service-quotas", "cloudwatch")

    def client(self, service, region="us-east-1", key=KEY_ID, secret=SECRET):
        return self.emulator.client(service, region=region, access_key=key, secret_key=secret)

    def calls(self, key, secret):
        """One cheap call per API, signed with the given pair."""
        return {
            "bedrock-runtime": lambda: self.client("bedrock-runtime", key=key, secret=secret)
            .converse(modelId=HAIKU, messages=[user("hi")]),
            "bedrock": lambda: self.client("bedrock", key=key, secret=secret)
            .list_inference_profiles(),
            "service-quotas": lambda: self.client("service-quotas", key=key, secret=secret)
            .list_service_quotas(ServiceCode="bedrock", MaxResults=1),
            "cloudwatch": lambda: self.client("cloudwatch", key=key, secret=secret)
            .describe_alarms(),
        }

    def test_configured_pair_is_accepted_everywhere(self):
        for service, call in self.calls(KEY_ID, SECRET).items():
            with self.subTest(service=service):
                self.assertEqual(call()["ResponseMetadata"]["HTTPStatusCode"], 200)

    def test_wrong_secret_is_invalid_signature(self):
        for service, call in self.calls(KEY_ID, SECRET + "x").items():
            with self.subTest(service=service):
                self.assertClientError(call, "InvalidSignatureException", 403)

    def test_unknown_key_id_is_unrecognized(self):
        for service, call in self.calls("AKIAUNKNOWNKEY000000", SECRET).items():
            with self.subTest(service=service):
                self.assertClientError(call, "UnrecognizedClientException", 403)

    def test_replaced_default_pair_is_refused(self):
        # Listing credentials in the config replaces the documented example pair.
        self.assertClientError(self.calls(ACCESS_KEY, SECRET_KEY)["bedrock-runtime"],
                               "UnrecognizedClientException", 403)

    def test_unsigned_request_is_refused(self):
        import botocore

        runtime = self.emulator.client("bedrock-runtime", signature_version=botocore.UNSIGNED)
        self.assertClientError(lambda: runtime.converse(modelId=HAIKU, messages=[user("hi")]),
                               "MissingAuthenticationTokenException", 403)

    def test_clock_skew_beyond_five_minutes_is_refused(self):
        import datetime
        from unittest import mock

        import botocore.auth

        real = botocore.auth.get_current_datetime

        def shifted(minutes):
            return lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=minutes)

        call = self.calls(KEY_ID, SECRET)["bedrock-runtime"]
        with mock.patch.object(botocore.auth, "get_current_datetime", shifted(2)):
            self.assertEqual(call()["ResponseMetadata"]["HTTPStatusCode"], 200)
        with mock.patch.object(botocore.auth, "get_current_datetime", shifted(10)):
            self.assertClientError(call, "InvalidSignatureException", 403)

    def capture_authorization(self, client):
        seen = []
        client.meta.events.register(
            "before-send", lambda request, **kwargs: seen.append(request.headers.get(
                "Authorization")))
        return seen

    def test_bearer_key_from_environment(self):
        with bearer_env(BEARER):
            runtime = self.emulator.bearer_client("bedrock-runtime", BEARER)
            seen = self.capture_authorization(runtime)
            reply = runtime.converse(modelId=HAIKU35, messages=[user("bearer")])
            self.assertEqual(reply["stopReason"], "end_turn")
            self.assertTrue(reply["output"]["message"]["content"][0]["text"])
            counted = runtime.count_tokens(modelId=HAIKU35,
                                           input={"converse": {"messages": [user("bearer")]}})
            self.assertEqual(counted["inputTokens"], reply["usage"]["inputTokens"])
            bedrock = self.emulator.bearer_client("bedrock", BEARER)
            seen_by_bedrock = self.capture_authorization(bedrock)
            profiles = bedrock.list_inference_profiles()["inferenceProfileSummaries"]
            self.assertTrue(profiles)
        self.assertEqual(len(seen), 2)
        self.assertEqual(len(seen_by_bedrock), 1)
        for header in seen + seen_by_bedrock:
            value = header.decode() if isinstance(header, bytes) else header
            self.assertEqual(value, "Bearer " + BEARER)

    def test_wrong_bearer_key_is_refused(self):
        with bearer_env(BEARER_KEY):  # the documented default key, not configured here
            runtime = self.emulator.bearer_client("bedrock-runtime", BEARER_KEY)
            error = self.assertClientError(
                lambda: runtime.converse(modelId=HAIKU, messages=[user("hi")]),
                "UnrecognizedClientException", 403)
            self.assertTrue(error.response["Error"]["Message"])
            bedrock = self.emulator.bearer_client("bedrock", BEARER_KEY)
            self.assertClientError(lambda: bedrock.list_inference_profiles(),
                                   "UnrecognizedClientException", 403)

    def test_bearer_is_refused_by_service_quotas_and_cloudwatch(self):
        # botocore never sends a bearer token there; a hand-made request shows what AWS answers.
        for target, content_type in (
                ("ServiceQuotasV20190624.ListServiceQuotas", "application/x-amz-json-1.1"),
                ("GraniteServiceVersion20100801.DescribeAlarms", "application/x-amz-json-1.0")):
            with self.subTest(target=target):
                request = urllib.request.Request(
                    self.emulator.endpoint + "/", method="POST",
                    data=json.dumps({"ServiceCode": "bedrock"}).encode(),
                    headers={"Authorization": "Bearer " + BEARER, "X-Amz-Target": target,
                             "Content-Type": content_type})
                with self.assertRaises(urllib.error.HTTPError) as raised:
                    urllib.request.urlopen(request, timeout=10)
                self.assertEqual(raised.exception.code, 403)
                body = json.loads(raised.exception.read())
                self.assertTrue(body["__type"].endswith("AccessDeniedException"), body)

    def test_sigv4_is_served_in_the_credential_scope_region(self):
        runtime = self.client("bedrock-runtime", region="eu-central-1")
        runtime.converse(modelId=HAIKU, messages=[user("where am I")])
        state = self.emulator.key_state("eu-central-1", HAIKU)
        self.assertIsNotNone(state)
        self.assertGreaterEqual(state["counters"]["admitted"], 1)

    def test_bearer_without_region_in_host_uses_default_region(self):
        # http://127.0.0.1:port names no region: the emulator serves it in auth.default_region.
        with bearer_env(BEARER):
            runtime = self.emulator.bearer_client("bedrock-runtime", BEARER,
                                                  region="ap-southeast-2")
            runtime.converse(modelId="amazon.nova-lite-v1:0", messages=[user("hi")])
        self.assertIsNotNone(self.emulator.key_state("us-east-1", "amazon.nova-lite-v1:0"))
        self.assertIsNone(self.emulator.key_state("ap-southeast-2", "amazon.nova-lite-v1:0"))


if __name__ == "__main__":
    unittest.main()
