"""CloudWatch through boto3 (awsJson1.0 as botocore 1.43 sends it, SigV4 service `monitoring`):
the AWS/Bedrock metrics of the emulator's own traffic read back with GetMetricStatistics and
GetMetricData and compared with what the test sent, PutMetricData round trips, and a metric
alarm driven into ALARM by throttles."""

import datetime
import json
import time
import unittest

from emulator_process import EmulatorTestCase, toml_config, wait_until

NOVA = "amazon.nova-micro-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
REGION = "eu-west-1"
OUTPUT_TOKENS = 30


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


class MetricsTest(EmulatorTestCase):
    """Known traffic on NOVA in eu-west-1, sent once in setUpClass, then read back."""

    CONFIG = toml_config(output={"distribution": "fixed", "mean": OUTPUT_TOKENS}, overrides=[
        {"region": REGION, "model": NOVA, "tokens_per_minute": 2000}])
    SERVICES = ("bedrock-runtime", "cloudwatch")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from botocore.exceptions import ClientError

        cls.started = time.time()
        runtime = cls.emulator.client("bedrock-runtime", region=REGION)
        cls.sent = {"success": 0, "input": 0, "output": 0, "throttled": 0, "client_error": 0,
                    "streams": 0}

        def success(input_tokens, output_tokens):
            cls.sent["success"] += 1
            cls.sent["input"] += input_tokens
            cls.sent["output"] += output_tokens

        for i in range(3):
            reply = runtime.converse(modelId=NOVA, messages=[user("Question number %d?" % i)],
                                     inferenceConfig={"maxTokens": 100})
            success(reply["usage"]["inputTokens"], reply["usage"]["outputTokens"])
        stream = runtime.converse_stream(modelId=NOVA, messages=[user("Stream it")],
                                         inferenceConfig={"maxTokens": 100})
        usage = [e["metadata"]["usage"] for e in stream["stream"] if "metadata" in e][0]
        success(usage["inputTokens"], usage["outputTokens"])
        cls.sent["streams"] += 1
        body = {"messages": [user("Native body")], "inferenceConfig": {"max_new_tokens": 100}}
        reply = json.loads(runtime.invoke_model(modelId=NOVA, body=json.dumps(body))["body"]
                           .read())
        success(reply["usage"]["inputTokens"], reply["usage"]["outputTokens"])
        for _ in range(2):  # a reservation above the 2000-token quota
            try:
                runtime.converse(modelId=NOVA, messages=[user("too big")],
                                 inferenceConfig={"maxTokens": 5000})
                raise AssertionError("expected a ThrottlingException")
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ThrottlingException", e.response
                cls.sent["throttled"] += 1
        try:  # above Nova Micro's 10,000 output tokens
            runtime.converse(modelId=NOVA, messages=[user("x")],
                             inferenceConfig={"maxTokens": 20000})
            raise AssertionError("expected a ValidationException")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException", e.response
            cls.sent["client_error"] += 1
        # One more model in the region, for the account-level (no dimension) series.
        runtime.converse(modelId=HAIKU, messages=[user("other model")])
        cls.cloudwatch = cls.emulator.client("cloudwatch", region=REGION)

    def statistics(self, metric, dimensions=None, region=REGION, statistics=("Sum",
                                                                              "SampleCount")):
        client = self.cloudwatch if region == REGION else self.emulator.client("cloudwatch",
                                                                               region=region)
        if dimensions is None:
            dimensions = [{"Name": "ModelId", "Value": NOVA}]
        response = client.get_metric_statistics(
            Namespace="AWS/Bedrock", MetricName=metric, Dimensions=dimensions,
            StartTime=utc(self.started - 180), EndTime=utc(time.time() + 60), Period=60,
            Statistics=list(statistics))
        return response

    def total(self, metric, statistic="Sum", **kwargs):
        points = self.statistics(metric, **kwargs)["Datapoints"]
        return sum(p[statistic] for p in points)

    def test_invocations_and_token_counts_match_the_traffic(self):
        response = self.statistics("Invocations")
        self.assertEqual(response["Label"], "Invocations")
        for point in response["Datapoints"]:
            self.assertIsInstance(point["Timestamp"], datetime.datetime)
            self.assertEqual(point["Timestamp"].second, 0)
        sent = self.sent
        self.assertEqual(self.total("Invocations"), sent["success"] + sent["client_error"])
        self.assertEqual(self.total("InvocationThrottles"), sent["throttled"])
        self.assertEqual(self.total("InvocationClientErrors"), sent["client_error"])
        self.assertEqual(self.total("InputTokenCount"), sent["input"])
        self.assertEqual(self.total("InputTokenCount", "SampleCount"), sent["success"])
        self.assertEqual(self.total("OutputTokenCount"), sent["output"])
        self.assertEqual(sent["output"], sent["success"] * OUTPUT_TOKENS)
        # Nova's burndown is 1: the quota usage is input + output.
        self.assertEqual(self.total("EstimatedTPMQuotaUsage"), sent["input"] + sent["output"])
        self.assertEqual(self.total("TimeToFirstToken", "SampleCount"), sent["streams"])
        self.assertEqual(self.total("InvocationServerErrors"), 0)

    def test_min_max_average(self):
        points = self.statistics("OutputTokenCount",
                                 statistics=("Minimum", "Maximum", "Average"))["Datapoints"]
        self.assertTrue(points)
        for p in points:
            self.assertEqual(p["Minimum"], OUTPUT_TOKENS)
            self.assertEqual(p["Maximum"], OUTPUT_TOKENS)
            self.assertEqual(p["Average"], OUTPUT_TOKENS)

    def test_without_dimension_aggregates_the_region(self):
        self.assertEqual(self.total("Invocations", dimensions=[]),
                         self.sent["success"] + self.sent["client_error"] + 1)
        self.assertEqual(self.total("Invocations",
                                    dimensions=[{"Name": "ModelId", "Value": HAIKU}]), 1)

    def test_metrics_are_per_region(self):
        self.assertEqual(self.statistics("Invocations", region="us-east-1")["Datapoints"], [])

    def test_get_metric_data_with_math(self):
        def stat(metric):
            return {"Metric": {"Namespace": "AWS/Bedrock", "MetricName": metric,
                               "Dimensions": [{"Name": "ModelId", "Value": NOVA}]},
                    "Period": 60, "Stat": "Sum"}

        queries = [
            {"Id": "inv", "MetricStat": stat("Invocations"), "ReturnData": True},
            {"Id": "tin", "MetricStat": stat("InputTokenCount"), "ReturnData": True},
            {"Id": "tout", "MetricStat": stat("OutputTokenCount"), "ReturnData": False},
            {"Id": "double", "Expression": "inv * 2", "Label": "twice", "ReturnData": True},
            {"Id": "outs", "Expression": "SUM([tout])", "ReturnData": True},
        ]
        paginator = self.cloudwatch.get_paginator("get_metric_data")
        results = {}
        for page in paginator.paginate(MetricDataQueries=queries,
                                       StartTime=utc(self.started - 180),
                                       EndTime=utc(time.time() + 60)):
            for r in page["MetricDataResults"]:
                entry = results.setdefault(r["Id"], {"values": [], "timestamps": [], "r": r})
                entry["values"] += r["Values"]
                entry["timestamps"] += r["Timestamps"]
        self.assertEqual(set(results), {"inv", "tin", "double", "outs"})
        for entry in results.values():
            self.assertEqual(entry["r"]["StatusCode"], "Complete")
            self.assertEqual(len(entry["values"]), len(entry["timestamps"]))
        invocations = self.sent["success"] + self.sent["client_error"]
        self.assertEqual(sum(results["inv"]["values"]), invocations)
        self.assertEqual(sum(results["tin"]["values"]), self.sent["input"])
        self.assertEqual(sum(results["double"]["values"]), 2 * invocations)
        self.assertEqual(results["double"]["r"]["Label"], "twice")
        self.assertEqual(sum(results["outs"]["values"]), self.sent["output"])

    def test_put_metric_data_round_trip(self):
        now = time.time()
        self.cloudwatch.put_metric_data(Namespace="Conformance/Test", MetricData=[
            {"MetricName": "Widgets", "Dimensions": [{"Name": "Line", "Value": "a"}],
             "Timestamp": utc(now), "Value": 5.0, "Unit": "Count"},
            {"MetricName": "Widgets", "Dimensions": [{"Name": "Line", "Value": "a"}],
             "Timestamp": utc(now), "Value": 7.0, "Unit": "Count"},
        ])
        response = self.cloudwatch.get_metric_statistics(
            Namespace="Conformance/Test", MetricName="Widgets",
            Dimensions=[{"Name": "Line", "Value": "a"}], StartTime=utc(now - 120),
            EndTime=utc(now + 120), Period=60, Statistics=["Sum", "SampleCount", "Maximum"])
        points = response["Datapoints"]
        self.assertEqual(sum(p["Sum"] for p in points), 12.0)
        self.assertEqual(sum(p["SampleCount"] for p in points), 2.0)
        self.assertEqual(max(p["Maximum"] for p in points), 7.0)
        names = [m["MetricName"] for page in self.cloudwatch.get_paginator("list_metrics")
                 .paginate(Namespace="Conformance/Test") for m in page["Metrics"]]
        self.assertEqual(names, ["Widgets"])

    def test_invalid_parameters(self):
        self.assertClientError(
            lambda: self.cloudwatch.get_metric_statistics(
                Namespace="AWS/Bedrock", MetricName="Invocations",
                StartTime=utc(time.time()), EndTime=utc(time.time() - 600), Period=60,
                Statistics=["Sum"]),
            "InvalidParameterValue", 400)


class AlarmTest(EmulatorTestCase):
    """An alarm on InvocationThrottles of one model, driven into ALARM by throttled requests."""

    CONFIG = toml_config(overrides=[{"region": REGION, "model": NOVA_LITE,
                                     "tokens_per_minute": 100}])
    SERVICES = ("bedrock-runtime", "cloudwatch")
    ALARM = "nova-lite-throttles"

    def describe(self, cloudwatch, **kwargs):
        return cloudwatch.describe_alarms(**kwargs)["MetricAlarms"]

    def test_throttles_drive_the_alarm_into_alarm_then_delete(self):
        cloudwatch = self.emulator.client("cloudwatch", region=REGION)
        runtime = self.emulator.client("bedrock-runtime", region=REGION)
        cloudwatch.put_metric_alarm(
            AlarmName=self.ALARM, AlarmDescription="throttles on Nova Lite",
            Namespace="AWS/Bedrock", MetricName="InvocationThrottles",
            Dimensions=[{"Name": "ModelId", "Value": NOVA_LITE}], Statistic="Sum", Period=10,
            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching")
        alarms = self.describe(cloudwatch, AlarmNames=[self.ALARM])
        self.assertEqual(len(alarms), 1)
        alarm = alarms[0]
        self.assertEqual(alarm["AlarmName"], self.ALARM)
        self.assertEqual(alarm["MetricName"], "InvocationThrottles")
        self.assertEqual(alarm["Dimensions"], [{"Name": "ModelId", "Value": NOVA_LITE}])
        self.assertEqual(alarm["Period"], 10)
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanThreshold")
        self.assertTrue(alarm["AlarmArn"].startswith("arn:aws:cloudwatch:%s:" % REGION))
        # No throttles yet, and missing data is not breaching.
        self.assertEqual(alarm["StateValue"], "OK", alarm.get("StateReason"))

        throttled = 0
        for _ in range(3):
            self.assertClientError(
                lambda: runtime.converse(modelId=NOVA_LITE, messages=[user("x")],
                                         inferenceConfig={"maxTokens": 500}),
                "ThrottlingException", 429)
            throttled += 1

        def in_alarm():
            alarm = self.describe(cloudwatch, AlarmNames=[self.ALARM])[0]
            return alarm if alarm["StateValue"] == "ALARM" else None

        # The 10-second period holding the throttles must end before it is evaluated.
        alarm = wait_until(in_alarm, 25, interval=0.5)
        self.assertTrue(alarm, "the alarm did not reach ALARM within 25 s")
        self.assertIn("Threshold Crossed", alarm["StateReason"])
        reason = json.loads(alarm["StateReasonData"])
        self.assertEqual(reason["recentDatapoints"], [float(throttled)])
        in_state = self.describe(cloudwatch, StateValue="ALARM")
        self.assertEqual([a["AlarmName"] for a in in_state], [self.ALARM])
        self.assertEqual(self.describe(cloudwatch, StateValue="OK"), [])
        # Alarms are per region.
        self.assertEqual(self.describe(self.emulator.client("cloudwatch", region="us-east-1")),
                         [])

        cloudwatch.delete_alarms(AlarmNames=[self.ALARM])
        self.assertEqual(self.describe(cloudwatch, AlarmNames=[self.ALARM]), [])
        self.assertEqual(self.describe(cloudwatch), [])

    # EMULATOR PROBLEM (reported; expected to fail until src/emulator/cloudwatch.cc is fixed):
    # StateReasonData is CloudWatch's JSON document whose queryDate (and startDate) are
    # timestamp strings like "2014-04-09T18:59:06.419+0000" and which names the statistic, e.g.
    # {"version":"1.0","queryDate":"2014-04-09T18:59:06.419+0000","startDate":
    #  "2014-04-09T18:44:00.000+0000","statistic":"Average","period":300,
    #  "recentDatapoints":[38.958,40.292],"threshold":70.0}
    # (AWS CLI describe-alarm-history example). The emulator writes queryDate as an epoch
    # number in exponent notation (1.7954153104163477E9) and has no startDate or statistic.
    def test_state_reason_data_has_cloudwatch_shape(self):
        cloudwatch = self.emulator.client("cloudwatch", region="ap-south-1")
        cloudwatch.put_metric_alarm(
            AlarmName="reason-shape", Namespace="AWS/Bedrock", MetricName="Invocations",
            Dimensions=[{"Name": "ModelId", "Value": NOVA_LITE}], Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching")
        alarm = self.describe(cloudwatch, AlarmNames=["reason-shape"])[0]
        self.assertEqual(alarm["StateValue"], "OK")
        data = json.loads(alarm["StateReasonData"])
        self.assertEqual(data["version"], "1.0")
        self.assertEqual(data["period"], 60)
        self.assertEqual(data["threshold"], 5.0)
        stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$"
        self.assertIsInstance(data["queryDate"], str, data)
        self.assertRegex(data["queryDate"], stamp)
        self.assertRegex(data.get("startDate", ""), stamp)
        self.assertEqual(data.get("statistic"), "Sum", data)
        cloudwatch.delete_alarms(AlarmNames=["reason-shape"])


if __name__ == "__main__":
    unittest.main()
