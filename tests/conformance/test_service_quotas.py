"""Service Quotas through boto3 (awsJson1.1, SigV4 service `servicequotas`): paginated listings,
get calls, and increase requests whose decision changes the quota the runtime enforces, observed
both through GetServiceQuota and through a bedrock-runtime request that is throttled before and
admitted after."""

import time
import unittest

from emulator_process import ACCOUNT_ID, EmulatorTestCase, toml_config, wait_until

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_TPM_NAME = "On-demand model inference tokens per minute for Anthropic Claude 3 Haiku"
HAIKU_TPM_CODE = "L-8CE99163"  # the real code (bedrock-wire.md section 5)
HAIKU_RPM_CODE = "L-2DC80978"
TINY_TPM = 300
BIG_REQUEST = {"maxTokens": 1000}  # reserves more than TINY_TPM


def tiny_haiku(region):
    return {"region": region, "model": HAIKU, "tokens_per_minute": TINY_TPM}


def user(text):
    return {"role": "user", "content": [{"text": text}]}


class QuotaTestCase(EmulatorTestCase):
    SERVICES = ("service-quotas", "bedrock-runtime")

    def quotas(self, region):
        return self.emulator.client("service-quotas", region=region)

    def runtime(self, region):
        return self.emulator.client("bedrock-runtime", region=region)

    def big_converse(self, region):
        return self.runtime(region).converse(modelId=HAIKU, messages=[user("hello")],
                                             inferenceConfig=BIG_REQUEST)

    def assertThrottled(self, region):
        self.assertClientError(lambda: self.big_converse(region), "ThrottlingException", 429)

    def assertAdmitted(self, region):
        reply = self.big_converse(region)
        self.assertEqual(reply["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertTrue(reply["output"]["message"]["content"][0]["text"])

    def find_code(self, sq, name):
        paginator = sq.get_paginator("list_service_quotas")
        for page in paginator.paginate(ServiceCode="bedrock"):
            for q in page["Quotas"]:
                if q["QuotaName"].lower() == name.lower():
                    return q["QuotaCode"]
        self.fail("no quota named %r" % name)


class ServiceQuotasTest(QuotaTestCase):
    # us-west-2: listings; eu-west-1: the increase. Each test owns its region.
    CONFIG = toml_config(overrides=[tiny_haiku("us-west-2"), tiny_haiku("eu-west-1")])

    def walk(self, sq, operation, page_size):
        pages = list(sq.get_paginator(operation).paginate(
            ServiceCode="bedrock", PaginationConfig={"PageSize": page_size}))
        return pages, [q for page in pages for q in page["Quotas"]]

    def test_paginators_walk_every_quota_once(self):
        sq = self.quotas("us-west-2")
        codes = {}
        for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
            pages, quotas = self.walk(sq, operation, 17)
            self.assertGreater(len(pages), 2, operation)
            for page in pages[:-1]:
                self.assertEqual(len(page["Quotas"]), 17, operation)
                self.assertTrue(page.get("NextToken"), operation)
            self.assertFalse(pages[-1].get("NextToken"), operation)
            listed = [q["QuotaCode"] for q in quotas]
            self.assertEqual(len(listed), len(set(listed)), "%s repeats a quota" % operation)
            _, whole = self.walk(sq, operation, 100)
            self.assertEqual([q["QuotaCode"] for q in whole], listed, operation)
            codes[operation] = set(listed)
            for q in quotas:
                self.assertEqual(q["ServiceCode"], "bedrock")
                self.assertEqual(q["ServiceName"], "Amazon Bedrock")
                self.assertRegex(q["QuotaCode"], r"^L-[0-9A-F]{8}$")
                self.assertIsInstance(q["Value"], float)
                self.assertIsInstance(q["Adjustable"], bool)
        self.assertEqual(codes["list_service_quotas"], codes["list_aws_default_service_quotas"])
        self.assertIn(HAIKU_TPM_CODE, codes["list_service_quotas"])

    def test_applied_value_differs_from_default_where_overridden(self):
        sq = self.quotas("us-west-2")
        self.assertEqual(self.find_code(sq, HAIKU_TPM_NAME), HAIKU_TPM_CODE)
        applied = sq.get_service_quota(ServiceCode="bedrock", QuotaCode=HAIKU_TPM_CODE)["Quota"]
        self.assertEqual(applied["QuotaName"].lower(), HAIKU_TPM_NAME.lower())
        self.assertEqual(applied["Value"], float(TINY_TPM))
        self.assertTrue(applied["Adjustable"])
        self.assertEqual(applied["QuotaArn"],
                         "arn:aws:servicequotas:us-west-2:%s:bedrock/%s"
                         % (ACCOUNT_ID, HAIKU_TPM_CODE))
        self.assertEqual(applied["Period"], {"PeriodValue": 1, "PeriodUnit": "MINUTE"})
        default = sq.get_aws_default_service_quota(ServiceCode="bedrock",
                                                   QuotaCode=HAIKU_TPM_CODE)["Quota"]
        self.assertEqual(default["Value"], 400000.0)
        self.assertEqual(default["QuotaArn"],
                         "arn:aws:servicequotas:us-west-2::bedrock/%s" % HAIKU_TPM_CODE)
        # The listings agree with the get calls.
        listed = {q["QuotaCode"]: q for q in self.walk(sq, "list_service_quotas", 100)[1]}
        self.assertEqual(listed[HAIKU_TPM_CODE]["Value"], float(TINY_TPM))
        listed = {q["QuotaCode"]: q
                  for q in self.walk(sq, "list_aws_default_service_quotas", 100)[1]}
        self.assertEqual(listed[HAIKU_TPM_CODE]["Value"], 400000.0)
        # Another region has no override.
        other = self.quotas("us-east-1").get_service_quota(ServiceCode="bedrock",
                                                           QuotaCode=HAIKU_TPM_CODE)
        self.assertEqual(other["Quota"]["Value"], 400000.0)

    def test_list_services_and_quota_code_filter(self):
        sq = self.quotas("us-west-2")
        services = [s for page in sq.get_paginator("list_services").paginate()
                    for s in page["Services"]]
        self.assertEqual(services, [{"ServiceCode": "bedrock", "ServiceName": "Amazon Bedrock"}])
        one = sq.list_service_quotas(ServiceCode="bedrock", QuotaCode=HAIKU_TPM_CODE)["Quotas"]
        self.assertEqual([q["QuotaCode"] for q in one], [HAIKU_TPM_CODE])
        self.assertEqual(one[0]["Value"], float(TINY_TPM))
        resource = sq.list_service_quotas(ServiceCode="bedrock",
                                          QuotaAppliedAtLevel="RESOURCE")["Quotas"]
        self.assertEqual(resource, [])

    def test_errors(self):
        sq = self.quotas("us-west-2")
        self.assertClientError(lambda: sq.get_service_quota(ServiceCode="ec2",
                                                            QuotaCode=HAIKU_TPM_CODE),
                               "NoSuchResourceException", 400)
        self.assertClientError(lambda: sq.get_service_quota(ServiceCode="bedrock",
                                                            QuotaCode="L-00000000"),
                               "NoSuchResourceException", 400)
        self.assertClientError(lambda: sq.list_service_quotas(ServiceCode="bedrock",
                                                              NextToken="not-a-token"),
                               "InvalidPaginationTokenException", 400)
        with self.assertRaises(sq.exceptions.NoSuchResourceException):
            sq.list_service_quotas(ServiceCode="ec2")
        # Not above the current value.
        self.assertClientError(
            lambda: sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=float(TINY_TPM)),
            "IllegalArgumentException", 400)

    def test_approved_increase_changes_the_live_quota(self):
        region = "eu-west-1"
        sq = self.quotas(region)
        self.assertThrottled(region)
        started = time.time()
        requested = sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=100000)["RequestedQuota"]
        self.assertEqual(requested["Status"], "APPROVED")
        self.assertEqual(requested["QuotaCode"], HAIKU_TPM_CODE)
        self.assertEqual(requested["ServiceCode"], "bedrock")
        self.assertEqual(requested["DesiredValue"], 100000.0)
        self.assertEqual(requested["QuotaName"].lower(), HAIKU_TPM_NAME.lower())
        self.assertTrue(requested["Id"])
        created = requested["Created"].timestamp()
        self.assertLess(abs(created - started), 60)

        quota = sq.get_service_quota(ServiceCode="bedrock", QuotaCode=HAIKU_TPM_CODE)["Quota"]
        self.assertEqual(quota["Value"], 100000.0)
        # The AWS default does not move.
        default = sq.get_aws_default_service_quota(ServiceCode="bedrock",
                                                   QuotaCode=HAIKU_TPM_CODE)["Quota"]
        self.assertEqual(default["Value"], 400000.0)
        self.assertAdmitted(region)
        state = self.emulator.key_state(region, HAIKU)
        self.assertEqual(state["tokens"]["limit"], 100000)
        self.assertEqual(state["counters"]["throttled"], 1)
        self.assertEqual(state["counters"]["admitted"], 1)

        history = [r for page in sq.get_paginator(
            "list_requested_service_quota_change_history").paginate(ServiceCode="bedrock")
            for r in page["RequestedQuotas"]]
        self.assertEqual([r["Id"] for r in history], [requested["Id"]])
        self.assertEqual(history[0]["Status"], "APPROVED")
        by_quota = [r for page in sq.get_paginator(
            "list_requested_service_quota_change_history_by_quota").paginate(
                ServiceCode="bedrock", QuotaCode=HAIKU_TPM_CODE) for r in page["RequestedQuotas"]]
        self.assertEqual([r["Id"] for r in by_quota], [requested["Id"]])
        none = sq.list_requested_service_quota_change_history_by_quota(
            ServiceCode="bedrock", QuotaCode=HAIKU_RPM_CODE)["RequestedQuotas"]
        self.assertEqual(none, [])
        approved = sq.list_requested_service_quota_change_history(
            ServiceCode="bedrock", Status="APPROVED")["RequestedQuotas"]
        self.assertEqual([r["Id"] for r in approved], [requested["Id"]])
        pending = sq.list_requested_service_quota_change_history(
            ServiceCode="bedrock", Status="PENDING")["RequestedQuotas"]
        self.assertEqual(pending, [])
        change = sq.get_requested_service_quota_change(
            RequestId=requested["Id"])["RequestedQuota"]
        self.assertEqual(change["Id"], requested["Id"])
        self.assertEqual(change["Status"], "APPROVED")
        self.assertEqual(change["DesiredValue"], 100000.0)
        # Requests are per region.
        elsewhere = self.quotas("ap-south-1").list_requested_service_quota_change_history(
            ServiceCode="bedrock")["RequestedQuotas"]
        self.assertEqual(elsewhere, [])
        self.assertClientError(
            lambda: sq.get_requested_service_quota_change(RequestId="no-such-request"),
            "NoSuchResourceException", 400)


class DelayedApprovalTest(QuotaTestCase):
    CONFIG = toml_config(overrides=[tiny_haiku("us-west-2")],
                         service_quotas={"increase_policy": "approve", "decide_after": "3s"})

    def test_pending_until_decided_then_enforced(self):
        region = "us-west-2"
        sq = self.quotas(region)
        self.assertThrottled(region)
        requested = sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=50000)["RequestedQuota"]
        self.assertEqual(requested["Status"], "PENDING")
        self.assertEqual(sq.get_service_quota(ServiceCode="bedrock",
                                              QuotaCode=HAIKU_TPM_CODE)["Quota"]["Value"],
                         float(TINY_TPM))
        self.assertThrottled(region)
        self.assertClientError(
            lambda: sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=60000),
            "ResourceAlreadyExistsException", 400)

        def status():
            change = sq.get_requested_service_quota_change(RequestId=requested["Id"])
            return change["RequestedQuota"]["Status"] == "APPROVED"

        self.assertTrue(wait_until(status, 15), "the request was not approved within 15 s")
        self.assertEqual(sq.get_service_quota(ServiceCode="bedrock",
                                              QuotaCode=HAIKU_TPM_CODE)["Quota"]["Value"],
                         50000.0)
        self.assertAdmitted(region)


class PendingPolicyTest(QuotaTestCase):
    CONFIG = toml_config(overrides=[tiny_haiku("us-west-2")],
                         service_quotas={"increase_policy": "pending"})

    def test_pending_request_changes_nothing(self):
        region = "us-west-2"
        sq = self.quotas(region)
        requested = sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=90000)["RequestedQuota"]
        self.assertEqual(requested["Status"], "PENDING")
        pending = sq.list_requested_service_quota_change_history(
            ServiceCode="bedrock", Status="PENDING")["RequestedQuotas"]
        self.assertEqual([r["Id"] for r in pending], [requested["Id"]])
        self.assertEqual(sq.get_service_quota(ServiceCode="bedrock",
                                              QuotaCode=HAIKU_TPM_CODE)["Quota"]["Value"],
                         float(TINY_TPM))
        self.assertThrottled(region)


class DenyPolicyTest(QuotaTestCase):
    CONFIG = toml_config(overrides=[tiny_haiku("us-west-2")],
                         service_quotas={"increase_policy": "deny"})

    def test_denied_request_changes_nothing(self):
        region = "us-west-2"
        sq = self.quotas(region)
        requested = sq.request_service_quota_increase(ServiceCode="bedrock",
                                                      QuotaCode=HAIKU_TPM_CODE,
                                                      DesiredValue=90000)["RequestedQuota"]
        self.assertEqual(requested["Status"], "DENIED")
        change = sq.get_requested_service_quota_change(RequestId=requested["Id"])
        self.assertEqual(change["RequestedQuota"]["Status"], "DENIED")
        self.assertEqual(sq.get_service_quota(ServiceCode="bedrock",
                                              QuotaCode=HAIKU_TPM_CODE)["Quota"]["Value"],
                         float(TINY_TPM))
        self.assertThrottled(region)


if __name__ == "__main__":
    unittest.main()
