#!/usr/bin/env python3
"""How close can a client come to the theoretical limit on a scenario whose documents are all
queued at once? A discrete-event simulation of an ideal client: it knows every document's exact
input count, reads the server's books exactly, and starts the first queued document (or, with
look-ahead K, the first of the next K that fits) the instant the books admit it. It is never
throttled and nothing delays it, so what it misses is what the server's way of counting and the
order of the documents cost.

    build/release/bench/throughput_bench --serve legal-bd1 --workload-out wl.jsonl </dev/null
    bench/window_bound.py wl.jsonl --tpm 400000 --output 400,200,50 [--burndown 1] [--seeds 1,2,3]
    bench/window_bound.py --self-test

Each document settles at input + output x burndown. Outputs are drawn from the scenario's normal
distribution (mean, stddev, minimum; capped at max_tokens), seeded, and the latency is Bedrock's
time to first token plus 15 ms per output token plus up to 0.3 s of jitter, as the benchmark's
emulator has it. The emulator draws its own outputs from each request's content, so these are the
same distribution, not the same draws: the figures are means over --seeds.

The server counts in one of the three ways of src/emulator/quota_books.h: a token bucket (full at
the start, refilled at the rate; a start takes its reservation, a settlement returns the unused
part), a fixed window (calendar periods; a start counts in the period it began, a settlement is
forgotten once that period is over) or a sliding window (a start counts for one period: its
reservation until it settles, then its charge). A "rate start" client also keeps a token bucket of
its own that starts empty, as quotaflow's limiter does (LimiterConfig::initial_fill = 0): it never
spends the period of quota an idle account holds. The rows "estimates 4% over" price each
reservation that much over the exact input, in every book, as quotaflow's estimate margin does.

goodput = settled tokens / (TPM per period x makespan), makespan = last completion; every document
arrives at 0, so this is the benchmark's limit (docs/throughput-benchmark.md, "The figures").
"""

import argparse
import heapq
import itertools
import json
import random
import statistics
import sys

PERIOD_S = 60.0  # Bedrock time: the emulator's period is scaled, the figures are not
TTFT_S, PER_TOKEN_S, JITTER_S = 0.6, 0.015, 0.3
MODES = ("token_bucket", "fixed_window", "sliding_window")
MARGIN = 0.04  # quotaflow's least estimate margin (CalibrationConfig::min_margin)


class Doc:
    def __init__(self, input_tokens, max_tokens, output, latency_s, burndown=1):
        self.input = input_tokens
        self.max = max_tokens
        self.latency = latency_s
        self.charge = input_tokens + output * burndown


def draw_docs(workload, mean, stddev, minimum, burndown, seed):
    rng = random.Random(seed)
    docs = []
    for w in workload:
        out = max(minimum, min(w["max_tokens"], round(rng.gauss(mean, stddev))))
        latency = TTFT_S + PER_TOKEN_S * out + rng.uniform(0, JITTER_S)
        docs.append(Doc(w["input_tokens"], w["max_tokens"], out, latency, burndown))
    return docs


class Bucket:
    """Level at `t`: refilled at rate, capped at capacity; takes and gives back tokens."""

    def __init__(self, capacity, rate, level):
        self.capacity, self.rate, self.level, self.t = capacity, rate, level, 0.0

    def at(self, t):
        return min(self.capacity, self.level + self.rate * (t - self.t))

    def move(self, t, delta):
        self.level, self.t = self.at(t) + delta, t
        self.level = min(self.level, self.capacity)

    def when(self, t, need):  # earliest time the level reaches `need` with no other change
        lv = self.at(t)
        return t if lv >= need else t + (need - lv) / self.rate


def simulate(docs, tpm, mode, rate_start=True, lookahead=1, margin=0.0):
    """Returns (goodput %, makespan in minutes)."""
    def need(d):
        return d.input * (1 + margin) + d.max

    if any(need(d) > tpm for d in docs):
        raise ValueError("a document reserves more than the TPM quota: no server ever admits it")
    rate = tpm / PERIOD_S
    server = Bucket(tpm, rate, tpm) if mode == "token_bucket" else None
    own = Bucket(tpm, rate, 0.0) if rate_start else None
    counted = []  # [start, count, charge] of the starts the window still counts, oldest first
    settles = []  # heap of (end, sequence, [start, count, charge]); count becomes charge at end
    sequence = itertools.count()  # orders settlements that end at the same time
    queue = list(docs)
    t, last_end = 0.0, 0.0

    def settle_until(now):
        while settles and settles[0][0] <= now:
            end, _, r = heapq.heappop(settles)
            for b in (server, own):
                if b:
                    b.move(end, r[1] - r[2])
            r[1] = r[2]

    def window_sum(now):
        if mode == "token_bucket":
            return 0
        # A sliding window forgets a start a period later; a fixed one when its period is over.
        if mode == "sliding_window":
            forgotten = lambda start: start <= now - PERIOD_S
        else:
            forgotten = lambda start: start < (now // PERIOD_S) * PERIOD_S
        gone = 0
        while gone < len(counted) and forgotten(counted[gone][0]):
            gone += 1
        del counted[:gone]
        return sum(r[1] for r in counted)

    while queue:
        settle_until(t)
        used = window_sum(t)
        for k, d in enumerate(queue[:lookahead]):
            n = need(d)
            if any(b and b.at(t) < n for b in (server, own)):
                continue
            if mode != "token_bucket" and used + n > tpm:
                continue
            for b in (server, own):
                if b:
                    b.move(t, -n)
            r = [t, n, d.charge]
            counted.append(r)
            heapq.heappush(settles, (t + d.latency, next(sequence), r))
            last_end = max(last_end, t + d.latency)
            del queue[k]
            break
        else:
            # Nothing fits now: the next moment anything changes. Every document fits an idle
            # server (checked above), so something is still to change.
            nxt = [settles[0][0]] if settles else []
            for d in queue[:lookahead]:
                nxt += [b.when(t, need(d)) for b in (server, own) if b and b.at(t) < need(d)]
            if mode == "sliding_window":
                nxt += [r[0] + PERIOD_S for r in counted]
            if mode == "fixed_window":
                nxt.append((t // PERIOD_S + 1) * PERIOD_S)
            t = max(t + 1e-9, min(x for x in nxt if x > t))
    total = sum(d.charge for d in docs)
    return 100.0 * total / (rate * last_end), last_end / 60.0


def self_test():
    # Two documents of 40 in + 20 max_tokens against 100 per period, each settling at 50 after 1 s.
    docs = lambda: [Doc(40, 20, 10, 1.0), Doc(40, 20, 10, 1.0)]
    # Sliding window, idle start: A at 0 holds 60; its settlement leaves 50, and B's 60 fits only
    # once A leaves the window at 60 s. B ends at 61 s: 100 / (100/60 x 61).
    _, m = simulate(docs(), 100, "sliding_window", rate_start=False)
    assert abs(m * 60 - 61.0) < 1e-6, m
    # Fixed window, idle start: B fits in the next calendar period, also at 60 s.
    _, m = simulate(docs(), 100, "fixed_window", rate_start=False)
    assert abs(m * 60 - 61.0) < 1e-6, m
    # Token bucket, idle start: A takes 60 of 100 at 0 and gives 10 back at 1 s, when the level is
    # 40 + 1.67 + 10 = 51.67. B's 60 is there 5 s later (8.33 at 1.67 a second); B ends at 7 s.
    _, m = simulate(docs(), 100, "token_bucket", rate_start=False)
    assert abs(m * 60 - 7.0) < 1e-6, m
    # Rate start: A waits 36 s for its 60; B's 60 accrues 36 s later less the 10 returned at 37 s.
    _, m = simulate(docs(), 100, "token_bucket", rate_start=True)
    assert abs(m * 60 - (36.0 + 30.0 + 1.0)) < 1e-6, m
    # A settlement frees what the reservation held over the charge: B's 40 fits next to A's 70 once
    # A settles at 50 (1 s), not only when A leaves the window.
    _, m = simulate([Doc(40, 30, 10, 1.0), Doc(20, 20, 10, 1.0)], 100, "sliding_window", False)
    assert abs(m * 60 - 2.0) < 1e-6, m
    # Look-ahead: a slow small document starts at once past a large one that waits for the window,
    # instead of after it (ends at 30 s, not 90 s; the large one ends at 61 s either way).
    three = lambda: [Doc(50, 10, 10, 1.0), Doc(80, 10, 5, 1.0), Doc(5, 5, 5, 30.0)]
    _, in_order = simulate(three(), 100, "sliding_window", rate_start=False, lookahead=1)
    _, ahead = simulate(three(), 100, "sliding_window", rate_start=False, lookahead=2)
    assert abs(in_order * 60 - 90.0) < 1e-6 and abs(ahead * 60 - 61.0) < 1e-6, (in_order, ahead)
    # A document above the quota is refused, not waited for forever.
    try:
        simulate([Doc(95, 10, 5, 1.0)], 100, "token_bucket")
        raise AssertionError("a reservation above the quota was simulated")
    except ValueError:
        pass
    print("window_bound: self-test passed")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workload", nargs="?", help="JSON lines from throughput_bench --workload-out")
    p.add_argument("--tpm", type=int, help="the scenario's TPM quota")
    p.add_argument("--output", help="the scenario's output distribution: mean,stddev,minimum")
    p.add_argument("--burndown", type=int, default=1)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--lookahead", default="1,4,64", help="look-ahead windows to show")
    p.add_argument("--self-test", action="store_true")
    a = p.parse_args()
    if a.self_test:
        self_test()
        return 0
    if not a.workload or not a.tpm or not a.output:
        p.error("a workload, --tpm and --output are required (or --self-test)")
    workload = [json.loads(line) for line in open(a.workload) if line.strip()]
    if any(w["arrival_s"] != 0 for w in workload):
        p.error("this bound is for scenarios that queue every document at once")
    try:
        mean, stddev, minimum = (int(x) for x in a.output.split(","))
    except ValueError:
        p.error(f"--output takes mean,stddev,minimum (three integers), not {a.output!r}")
    seeds = [int(s) for s in a.seeds.split(",")]
    runs = [draw_docs(workload, mean, stddev, minimum, a.burndown, s) for s in seeds]

    def row(label, **kw):
        cells = []
        for mode in MODES:
            try:
                g = [simulate(docs, a.tpm, mode, **kw)[0] for docs in runs]
            except ValueError as e:
                p.error(f"{e} (--tpm {a.tpm})")
            cells.append(f"{statistics.mean(g):5.1f} ({min(g):5.1f}-{max(g):5.1f})")
        print(f"{label:46s} " + "  ".join(cells))

    print(f"{len(workload)} documents, TPM {a.tpm:,}, seeds {a.seeds}; goodput %, mean (range)")
    print(f"{'client':46s} " + "  ".join(f"{m:19s}" for m in MODES))
    row("idle period spent, in order", rate_start=False)
    for k in (int(x) for x in a.lookahead.split(",")):
        order = "in order" if k == 1 else f"look-ahead {k}"
        row(f"rate start, {order}", lookahead=k)
        row(f"rate start, {order}, estimates {MARGIN:.0%} over", lookahead=k, margin=MARGIN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
