#!/usr/bin/env python3
"""Summarises several seeds' runs of experiments/people/demo_judge.sh from
their eval.json files: per arm, the mean ± population std over the runs of
the gold lipogram gain (after PPO minus before), the KL, the gain per nat,
the reward model's held-out agreement with the goal, and the labels people
gave; then, per seed, the judge arm against the people arm. Standard
library only.

    python3 experiments/people/demo_judge_seeds.py runs/people-demo-judge-seed1 runs/people-demo-judge-seed2 runs/people-demo-judge-seed3
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odpo_seeds import ms  # noqa: E402


def main():
    runs = [{arm: json.load(open(os.path.join(out, arm, "eval.json"))) for arm in ("people", "judge")} for out in sys.argv[1:]]
    gain = lambda e: e["after"]["gold_mean"] - e["before"]["gold_mean"]
    print("| arm | gold gain | KL (nats) | gain per nat | reward model's agreement with the goal (held out) | labels people gave | the judge's |")
    print("|---|---|---|---|---|---|---|")
    for arm in ("people", "judge"):
        es = [r[arm] for r in runs]
        print("| %s | %s | %s | %s | %s | %.0f | %.0f |" % (
            arm, ms([gain(e) for e in es], "%+.3f"), ms([e["after"]["kl_mean"] for e in es], "%.2f"),
            ms([gain(e) / e["after"]["kl_mean"] for e in es], "%.4f"), ms([100 * e["rm"]["gold_pair_accuracy"] for e in es], "%.1f"),
            statistics.fmean(e["labels"] - e.get("judge_labels", 0) for e in es), statistics.fmean(e.get("judge_labels", 0) for e in es)))
    print()
    print("| seed | gold gain, judge − people | KL, judge − people | gain per nat, judge − people |")
    print("|---|---|---|---|")
    for i, r in enumerate(runs):
        p, j = r["people"], r["judge"]
        print("| %d | %+.3f | %+.2f | %+.4f |" % (i + 1, gain(j) - gain(p), j["after"]["kl_mean"] - p["after"]["kl_mean"],
                                               gain(j) / j["after"]["kl_mean"] - gain(p) / p["after"]["kl_mean"]))


if __name__ == "__main__":
    main()
