"""The bedrock control plane's inference profiles through boto3: ListInferenceProfiles (walked with
botocore's paginator) and GetInferenceProfile, checked against data/models.json (the catalog
compiled into the binary) and the geo -> destination-region rules."""

import datetime
import json
import os
import unittest

from emulator_process import ACCOUNT_ID, EmulatorTestCase, toml_config

SONNET4 = "anthropic.claude-sonnet-4-20250514-v1:0"
MODELS_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                           "models.json")

US_REGIONS = {"us-east-1", "us-east-2", "us-west-2"}
EU_REGIONS = {"eu-central-1", "eu-north-1", "eu-west-1", "eu-west-3"}


def expected_profile_ids(region):
    """The system-defined profiles a region serves, from the catalog file."""
    with open(MODELS_JSON) as f:
        models = json.load(f)["models"]

    def serves(prefix):
        if prefix == "global":
            return True
        if prefix == "us":
            return region.startswith("us-") and not region.startswith("us-gov-")
        if prefix == "eu":
            return region.startswith("eu-")
        if prefix == "apac":
            return region.startswith("ap-")
        if prefix == "jp":
            return region in ("ap-northeast-1", "ap-northeast-3")
        if prefix == "au":
            return region in ("ap-southeast-2", "ap-southeast-4")
        return False

    return {"%s.%s" % (p, m["id"]) for m in models for p in m.get("profiles", []) if serves(p)}


class InferenceProfilesTest(EmulatorTestCase):
    CONFIG = toml_config()
    SERVICES = ("bedrock",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bedrock = cls.emulator.client("bedrock", region="us-east-1")

    def walk(self, client, page_size):
        paginator = client.get_paginator("list_inference_profiles")
        pages = list(paginator.paginate(PaginationConfig={"PageSize": page_size}))
        return pages, [p for page in pages for p in page["inferenceProfileSummaries"]]

    def test_paginator_walks_every_profile_once(self):
        pages, profiles = self.walk(self.bedrock, 5)
        ids = [p["inferenceProfileId"] for p in profiles]
        self.assertGreater(len(pages), 2, "a page size of 5 should take several pages")
        for page in pages[:-1]:
            self.assertEqual(len(page["inferenceProfileSummaries"]), 5)
            self.assertIn("nextToken", page)
        self.assertNotIn("nextToken", pages[-1])
        self.assertEqual(len(ids), len(set(ids)), "duplicate profiles across pages")
        self.assertEqual(set(ids), expected_profile_ids("us-east-1"))
        # One big page gives the same list in the same order.
        single = self.bedrock.list_inference_profiles(maxResults=1000)
        self.assertEqual([p["inferenceProfileId"] for p in single["inferenceProfileSummaries"]],
                         ids)
        self.assertNotIn("nextToken", single)

    def test_summary_fields(self):
        _, profiles = self.walk(self.bedrock, 50)
        for p in profiles:
            self.assertEqual(p["status"], "ACTIVE")
            self.assertEqual(p["type"], "SYSTEM_DEFINED")
            self.assertEqual(p["inferenceProfileArn"],
                             "arn:aws:bedrock:us-east-1:%s:inference-profile/%s"
                             % (ACCOUNT_ID, p["inferenceProfileId"]))
            self.assertIsInstance(p["createdAt"], datetime.datetime)
            self.assertTrue(p["inferenceProfileName"])
            self.assertTrue(p["models"])

    def test_region_decides_the_profiles(self):
        eu = self.emulator.client("bedrock", region="eu-west-1")
        _, profiles = self.walk(eu, 7)
        ids = {p["inferenceProfileId"] for p in profiles}
        self.assertEqual(ids, expected_profile_ids("eu-west-1"))
        self.assertIn("eu." + SONNET4, ids)
        self.assertIn("global." + SONNET4, ids)
        self.assertFalse([i for i in ids if i.startswith("us.")])

    def test_type_filter(self):
        apps = self.bedrock.list_inference_profiles(typeEquals="APPLICATION")
        self.assertEqual(apps["inferenceProfileSummaries"], [])
        system = self.bedrock.list_inference_profiles(typeEquals="SYSTEM_DEFINED",
                                                      maxResults=1000)
        self.assertEqual({p["inferenceProfileId"] for p in system["inferenceProfileSummaries"]},
                         expected_profile_ids("us-east-1"))

    def test_get_inference_profile_destinations(self):
        profile = self.bedrock.get_inference_profile(inferenceProfileIdentifier="us." + SONNET4)
        self.assertEqual(profile["inferenceProfileId"], "us." + SONNET4)
        self.assertEqual(profile["inferenceProfileArn"],
                         "arn:aws:bedrock:us-east-1:%s:inference-profile/us.%s"
                         % (ACCOUNT_ID, SONNET4))
        self.assertEqual(profile["status"], "ACTIVE")
        self.assertEqual(profile["type"], "SYSTEM_DEFINED")
        arns = [m["modelArn"] for m in profile["models"]]
        prefix = "arn:aws:bedrock:"
        suffix = "::foundation-model/" + SONNET4
        for arn in arns:
            self.assertTrue(arn.startswith(prefix) and arn.endswith(suffix), arn)
        regions = {arn[len(prefix):-len(suffix)] for arn in arns}
        self.assertEqual(regions, US_REGIONS)

        eu = self.emulator.client("bedrock", region="eu-west-1")
        profile = eu.get_inference_profile(inferenceProfileIdentifier="eu." + SONNET4)
        regions = {m["modelArn"].split(":")[3] for m in profile["models"]}
        self.assertEqual(regions, EU_REGIONS)

        glob = self.bedrock.get_inference_profile(inferenceProfileIdentifier="global." + SONNET4)
        regions = {m["modelArn"].split(":")[3] for m in glob["models"]}
        self.assertTrue(US_REGIONS | {"eu-west-1"} <= regions, regions)

    def test_get_inference_profile_by_arn(self):
        arn = "arn:aws:bedrock:us-east-1:%s:inference-profile/us.%s" % (ACCOUNT_ID, SONNET4)
        profile = self.bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
        self.assertEqual(profile["inferenceProfileId"], "us." + SONNET4)

    def test_unknown_profile_is_not_found(self):
        self.assertClientError(
            lambda: self.bedrock.get_inference_profile(
                inferenceProfileIdentifier="us.anthropic.claude-v9"),
            "ResourceNotFoundException", 404)
        # Titan has no profiles; an eu. profile does not exist in us-east-1.
        self.assertClientError(
            lambda: self.bedrock.get_inference_profile(
                inferenceProfileIdentifier="us.amazon.titan-text-express-v1"),
            "ResourceNotFoundException", 404)
        self.assertClientError(
            lambda: self.bedrock.get_inference_profile(inferenceProfileIdentifier="eu." + SONNET4),
            "ResourceNotFoundException", 404)
        with self.assertRaises(self.bedrock.exceptions.ResourceNotFoundException):
            self.bedrock.get_inference_profile(inferenceProfileIdentifier="us.nope-v1:0")


if __name__ == "__main__":
    unittest.main()
