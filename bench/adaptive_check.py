#!/usr/bin/env python3
"""Checks the throughput benchmark's model of the AWS SDK's adaptive retry mode (strategy 4,
bench/sdk_adaptive.h) against boto3's own `adaptive` mode, on one scenario.

    bench/adaptive_check.py --bench build/release/bench/throughput_bench [--scenario legal-bd1]
        [--mode token_bucket] [--period-ms 2000] [--workers 32] [--seeds 1,2,3] [--short]

For each seed:
1. `throughput_bench --serve` starts the scenario's emulator and writes its workload.
2. boto3 (retries={'mode': 'adaptive'}, the defaults otherwise: 3 attempts) sends every document
   from `--workers` threads sharing one client, as strategy 4's worker pool does; when the SDK
   gives up on a throttle or a 5xx, the worker calls again at once. The emulator's own counters give
   the 429s; the responses' usage gives the settled tokens.
3. `throughput_bench --strategies sdk-adaptive --sdk-real-time` runs the C++ model on the same
   workload, with the SDK's clocks in real seconds as boto3's are (time.time()), not scaled to the
   quota period as in the benchmark's table.
Then the mean goodput (settled tokens / (TPM x makespan): the scenarios checked here queue every
document at once) and the mean 429s per 1,000 documents are compared. Exits 1 when the means
differ by more than --goodput-tolerance points or by more than a factor of --throttle-ratio.

Why means over seeds and 32 workers: one run's goodput swings by several points with the moment
the first throttles land (boto3 itself: 91-107% across the runs made while writing this check),
and with 128 workers the figures measure dispatch speed instead of the SDK: C++ sends the first
128 requests within a
millisecond, all before the first 429 arrives, while Python's GIL spreads them over ~0.2 s, so
after the first 429 (which drops the SDK's rate to 0.5 requests/s) boto3's later threads are
already held back. 32 workers keep the first wave within the server's first period of quota.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailableException",
                   "InternalServerException", "ModelNotReadyException"}


def serve(args, workload_path):
    cmd = [args.bench, "--serve", args.scenario, "--modes", args.mode, "--period-ms",
           str(args.period_ms), "--seed", str(args.seed), "--workload-out", workload_path]
    if args.short:
        cmd.append("--short")
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = {}
    while "DOCS" not in info:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("adaptive_check: the emulator did not start")
        key, _, value = line.strip().partition(" ")
        info[key] = value
    return proc, info


def server_counters(proc, key):
    proc.stdin.write("STATE\n")
    proc.stdin.flush()
    state = json.loads(proc.stdout.readline())
    for k in state["keys"]:
        if k["key"] == key:
            return k["counters"]
    return {}


def run_boto3(args, info, docs):
    client = boto3.client(
        "bedrock-runtime", endpoint_url=info["ENDPOINT"], region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"mode": "adaptive"}, max_pool_connections=args.workers,
                      read_timeout=120, connect_timeout=10))
    model = info["MODEL"]
    burndown = int(info["BURNDOWN"])
    work = queue.Queue()
    for d in docs:
        work.put(d)
    results = []
    lock = threading.Lock()
    start = time.monotonic()

    def worker():
        while True:
            try:
                d = work.get_nowait()
            except queue.Empty:
                return
            delay = d["arrival_s"] - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            body = json.loads(d["body"])
            calls = 0
            while True:
                calls += 1
                try:
                    reply = client.converse(modelId=model, **body)
                except ClientError as e:
                    if e.response["Error"]["Code"] in RETRYABLE_CODES:
                        continue  # the SDK gave up: call again at once
                    with lock:
                        results.append({"ok": False, "error": str(e)})
                    break
                usage = reply["usage"]
                with lock:
                    results.append({"ok": True, "arrival": start + d["arrival_s"],
                                    "finished": time.monotonic(),
                                    "settled": usage["inputTokens"]
                                    + burndown * usage["outputTokens"],
                                    "calls": calls})
                break

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def boto3_figures(info, results, counters, docs):
    ok = [r for r in results if r["ok"]]
    period = float(info["PERIOD"])
    first = min(r["arrival"] for r in ok)
    makespan = max(r["finished"] for r in ok) - first
    settled = sum(r["settled"] for r in ok)
    limit = settled / (int(info["TPM"]) / period)  # every document queued at once
    return {
        "docs": len(docs),
        "succeeded": len(ok),
        "goodput_pct": 100.0 * limit / makespan,
        "throttles_per_1k": 1000.0 * counters.get("throttled", 0) / max(1, len(ok)),
        "makespan_min": makespan / period,
    }


def run_model(args):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [args.bench, "--scenarios", args.scenario, "--modes", args.mode, "--strategies",
           "sdk-adaptive", "--sdk-real-time", "--period-ms", str(args.period_ms), "--seed",
           str(args.seed), "--workers", str(args.workers), "--json", out]
    if args.short:
        cmd.append("--short")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        rows = json.load(f)
    os.unlink(out)
    return rows[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bench", required=True, help="path to throughput_bench")
    p.add_argument("--scenario", default="legal-bd1")
    p.add_argument("--mode", default="token_bucket")
    p.add_argument("--period-ms", type=int, default=2000)
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--seeds", default="1,2,3",
                   help="comma-separated workload seeds; the figures are compared as means")
    p.add_argument("--short", action="store_true", help="the workload at --short size")
    p.add_argument("--goodput-tolerance", type=float, default=5.0)
    p.add_argument("--throttle-ratio", type=float, default=1.5)
    args = p.parse_args()

    seeds = [int(x) for x in args.seeds.split(",")]
    runs = {"sdk": [], "model": []}
    for seed in seeds:
        args.seed = seed
        with tempfile.TemporaryDirectory() as tmp:
            workload = os.path.join(tmp, "workload.jsonl")
            proc, info = serve(args, workload)
            try:
                with open(workload) as f:
                    docs = [json.loads(line) for line in f]
                results = run_boto3(args, info, docs)
                counters = server_counters(proc, "us-east-1/" + info["MODEL"])
            finally:
                proc.stdin.close()
                proc.wait(timeout=30)
        sdk = boto3_figures(info, results, counters, docs)
        model = run_model(args)
        for f in (sdk, model):
            f["complete"] = f["succeeded"] == len(docs)
        runs["sdk"].append(sdk)
        runs["model"].append(model)

    print("adaptive retry mode on %s, %s server, period %d ms, %d workers, seeds %s"
          % (args.scenario, args.mode, args.period_ms, args.workers, args.seeds))
    print("%-28s %5s %9s %9s %10s %12s" % ("", "seed", "docs ok", "goodput", "429s/1k",
                                            "makespan min"))
    names = {"sdk": "boto3 %s adaptive" % boto3.__version__,
             "model": "C++ model (sdk_adaptive.h)"}
    means = {}
    for key in ("sdk", "model"):
        for seed, f in zip(seeds, runs[key]):
            print("%-28s %5d %9d %8.1f%% %10.1f %12.2f" % (
                names[key], seed, f["succeeded"], f["goodput_pct"], f["throttles_per_1k"],
                f["makespan_min"]))
        means[key] = {k: sum(f[k] for f in runs[key]) / len(seeds)
                      for k in ("goodput_pct", "throttles_per_1k")}
        print("%-28s %5s %9s %8.1f%% %10.1f" % (names[key], "mean", "",
                                                means[key]["goodput_pct"],
                                                means[key]["throttles_per_1k"]))
    failures = []
    if not all(f["complete"] for key in runs for f in runs[key]):
        failures.append("not every document succeeded")
    sdk, model = means["sdk"], means["model"]
    if abs(sdk["goodput_pct"] - model["goodput_pct"]) > args.goodput_tolerance:
        failures.append("mean goodput differs by more than %.1f points" % args.goodput_tolerance)
    lo, hi = sorted([sdk["throttles_per_1k"], model["throttles_per_1k"]])
    if hi > args.throttle_ratio * max(lo, 1.0):
        failures.append("mean 429 rates differ by more than a factor of %.2f"
                        % args.throttle_ratio)
    if failures:
        print("adaptive_check: MISMATCH: " + "; ".join(failures))
        return 1
    print("adaptive_check: the model behaves like boto3 within the tolerances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
