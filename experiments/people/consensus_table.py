#!/usr/bin/env python3
"""Prints how people's answers became training pairs in the overlap arms of
experiments/people/online_dpo.sh (people3, vote3, vote3s, recala; people for
reference), per arm and round, pooled over the runs given: people's answers
in the round (people.jsonl), the share of them that pick against the goal
(their measured error rate; groups whose completions score the same under
the goal are left out, as the scripted person calls them ties), the error
rate the one-coin fit estimated from their agreement alone over rounds 1..r
(people.json; mean ± std over runs), the pairs the round trained on
(pairs.jsonl, people's and, for recala, the judge's) and the share of them
against the goal; for recala also the error rate the judge's refit was given
before the round and the temperature it fitted (judge.json); then people's
answers so far and the policy's gold lipogram after the round (eval.json),
to compare arms at the same number of answers. Standard library only.

    python3 experiments/people/consensus_table.py 6 runs/people-vote-seed1 runs/people-vote-seed2 runs/people-vote-seed3
"""
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label import lipogram  # noqa: E402
from odpo_table import arms  # noqa: E402


def wrong(path, human_only=False):
    """(records against the goal, records the goal tells apart, records) of a
    pair file; human_only counts people's records alone."""
    bad = decided = n = 0
    for line in open(path) if os.path.exists(path) else []:
        rec = json.loads(line)
        if human_only and rec.get("source") != "human":
            continue
        n += 1
        c, r = lipogram(rec["chosen"], "e"), lipogram(rec["rejected"], "e")
        if c != r:
            bad, decided = bad + (c < r), decided + 1
    return bad, decided, n


def ms(xs, fmt="%.3f"):
    return (fmt + " ± " + fmt.replace("+", "")) % (statistics.fmean(xs), statistics.pstdev(xs)) if xs else ""


def pct(a, n):
    return "%.1f%%" % (100.0 * a / n) if n else ""


def main():
    rounds, outs = int(sys.argv[1]), sys.argv[2:]
    print("| arm | round | people's answers (mean) | of which against the goal | error rate estimated from agreement "
          "(rounds 1..r) | pairs trained on (mean) | of which against the goal | error rate given to the judge's refit "
          "| judge's temperature | people's answers so far (mean) | gold lipogram (mean ± std over runs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arm in arms(outs[0]):
        if arm not in ("people", "people3", "vote3", "vote3s", "recala"):
            continue
        sofar = [0] * len(outs)
        for r in range(1, rounds + 1):
            ds = [os.path.join(out, arm, "round%d" % r) for out in outs]
            pw = [wrong(os.path.join(d, "people.jsonl")) for d in ds]
            tw = [wrong(os.path.join(d, "pairs.jsonl")) for d in ds]
            est = [json.load(open(os.path.join(d, "people.json")))["error_rate"] for d in ds
                   if os.path.exists(os.path.join(d, "people.json"))]
            given, temps = [], []
            for out, d in zip(outs, ds):
                log = open(os.path.join(out, arm, "round%d.log" % r)).read()
                m = re.search(r"-people-error auto: people's error rate (\S+),", log)
                if m:
                    given.append(float(m.group(1)))
                if os.path.exists(os.path.join(d, "judge.json")):
                    temps.append(json.load(open(os.path.join(d, "judge.json")))["temperature"])
            sofar = [n + p[2] for n, p in zip(sofar, pw)]
            gold = [json.load(open(os.path.join(d, "eval.json")))["gold_mean"] for d in ds]
            print("| %s | %d | %.0f | %s | %s | %.0f | %s | %s | %s | %.0f | %s |" % (
                arm, r, statistics.fmean(p[2] for p in pw), pct(sum(p[0] for p in pw), sum(p[1] for p in pw)), ms(est),
                statistics.fmean(t[2] for t in tw), pct(sum(t[0] for t in tw), sum(t[1] for t in tw)), ms(given),
                ms(temps), statistics.fmean(sofar), ms(gold, "%+.3f")))


if __name__ == "__main__":
    main()
