"""Application inference profiles from the emulator's config ([[application_profile]]) through
boto3: GetInferenceProfile on the ARN (AWS's shape, type APPLICATION), ListInferenceProfiles with
typeEquals=APPLICATION, and Converse with the ARN as modelId, charged to the quota of the system
profile the application profile copies."""

import datetime
import unittest

from emulator_process import ACCOUNT_ID, EmulatorTestCase, toml_config

NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_LITE_US = "us." + NOVA_LITE
ARN = "arn:aws:bedrock:us-east-1:%s:application-inference-profile/abc123" % ACCOUNT_ID

PROFILES = """
[[application_profile]]
id = "abc123"
name = "contracts-team"
copy_from = "%s"
""" % NOVA_LITE_US


class ApplicationProfilesTest(EmulatorTestCase):
    CONFIG = toml_config(extra=PROFILES)
    SERVICES = ("bedrock", "bedrock-runtime")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bedrock = cls.emulator.client("bedrock", region="us-east-1")
        cls.runtime = cls.emulator.client("bedrock-runtime", region="us-east-1")

    def test_get_inference_profile_by_arn_then_converse_with_it(self):
        profile = self.bedrock.get_inference_profile(inferenceProfileIdentifier=ARN)
        self.assertEqual(profile["inferenceProfileId"], "abc123")
        self.assertEqual(profile["inferenceProfileArn"], ARN)
        self.assertEqual(profile["inferenceProfileName"], "contracts-team")
        self.assertEqual(profile["type"], "APPLICATION")
        self.assertEqual(profile["status"], "ACTIVE")
        self.assertIsInstance(profile["createdAt"], datetime.datetime)
        self.assertEqual([m["modelArn"] for m in profile["models"]],
                         ["arn:aws:bedrock:%s::foundation-model/%s" % (region, NOVA_LITE)
                          for region in ("us-east-1", "us-east-2", "us-west-2")])

        before = self.emulator.key_state("us-east-1", NOVA_LITE_US)
        admitted_before = before["counters"]["admitted"] if before else 0
        reply = self.runtime.converse(
            modelId=ARN, messages=[{"role": "user", "content": [{"text": "Hello"}]}],
            inferenceConfig={"maxTokens": 100})
        self.assertEqual(reply["stopReason"], "end_turn")
        self.assertEqual(reply["usage"]["outputTokens"], 40)
        # Charged to the copied system profile's quota; the application profile has none.
        after = self.emulator.key_state("us-east-1", NOVA_LITE_US)
        self.assertIsNotNone(after)
        self.assertEqual(after["counters"]["admitted"], admitted_before + 1)
        self.assertIsNone(self.emulator.key_state("us-east-1", ARN))

    def test_list_filters_application_profiles(self):
        apps = self.bedrock.list_inference_profiles(typeEquals="APPLICATION")
        self.assertEqual([p["inferenceProfileArn"] for p in apps["inferenceProfileSummaries"]],
                         [ARN])
        system = self.bedrock.list_inference_profiles(typeEquals="SYSTEM_DEFINED",
                                                      maxResults=1000)
        self.assertNotIn("abc123",
                         [p["inferenceProfileId"] for p in system["inferenceProfileSummaries"]])

    def test_profile_exists_in_its_own_region_only(self):
        west = self.emulator.client("bedrock", region="us-west-2")
        self.assertClientError(lambda: west.get_inference_profile(inferenceProfileIdentifier=ARN),
                               "ResourceNotFoundException", 404)
        with self.assertRaises(self.bedrock.exceptions.ResourceNotFoundException):
            self.bedrock.get_inference_profile(inferenceProfileIdentifier=ARN.replace("abc123",
                                                                                      "zzz999"))


if __name__ == "__main__":
    unittest.main()
