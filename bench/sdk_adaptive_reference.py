#!/usr/bin/env python3
"""botocore's own adaptive-mode rate limiter (botocore/retries/adaptive.py, bucket.py,
throttling.py) on a fake clock, as the reference for bench/sdk_adaptive_test.cc.

    sdk_adaptive_reference.py EVENTS.jsonl

Each input line is {"t": seconds, "op": "send"} or {"t": seconds, "op": "response",
"throttled": bool}; the first line is {"t": start, "op": "create"}. For each event it prints one
JSON line: a send says whether the bucket let it go now ("ok") and otherwise how long botocore's
blocking acquire() would sleep first ("wait"); a response gives the limiter's state after it.
"""

import json
import sys

from botocore.exceptions import CapacityNotAvailableError
from botocore.retries import adaptive, bucket, throttling


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def current_time(self):
        return self.t

    def sleep(self, amount):
        raise AssertionError("the reference never sleeps")


class Detector:
    def is_throttling_error(self, **kwargs):
        return kwargs["throttled"]


def main():
    clock = FakeClock()
    limiter = None
    token_bucket = None
    rate_clocker = None
    with open(sys.argv[1]) as f:
        for line in f:
            ev = json.loads(line)
            clock.t = ev["t"]
            if ev["op"] == "create":
                rate_adjustor = throttling.CubicCalculator(
                    starting_max_rate=0, start_time=clock.current_time())
                token_bucket = bucket.TokenBucket(max_rate=1, clock=clock)
                rate_clocker = adaptive.RateClocker(clock)
                limiter = adaptive.ClientRateLimiter(
                    rate_adjustor=rate_adjustor, rate_clocker=rate_clocker,
                    token_bucket=token_bucket, throttling_detector=Detector(), clock=clock)
                print(json.dumps({"op": "create"}))
            elif ev["op"] == "send":
                out = {"op": "send", "ok": True, "wait": 0.0}
                if limiter._enabled:
                    try:
                        token_bucket.acquire(block=False)
                    except CapacityNotAvailableError:
                        # _acquire refilled before refusing, as the blocking form does before
                        # computing its first sleep.
                        out = {"op": "send", "ok": False, "wait": token_bucket._sleep_amount(1)}
                print(json.dumps(out))
            else:
                limiter.on_receiving_response(throttled=ev["throttled"])
                print(json.dumps({"op": "response", "max_rate": token_bucket.max_rate,
                                  "measured": rate_clocker.measured_rate,
                                  "enabled": limiter._enabled,
                                  "available": token_bucket.available_capacity}))


if __name__ == "__main__":
    main()
