#!/usr/bin/env python3
"""Summarises experiments/rm/soft.sh over its seeds: mean ± population std of
each model's held-out agreement with the goal (summary.json's
val_gold_accuracy, in %), and the soft student against the hard one and
against the student on the goal's own labels, per seed. Standard library
only.

    python3 experiments/rm/soft_summary.py runs/rm-soft 1 2 3 4 5
"""
import json
import os
import statistics
import sys

MODELS = [("teacher-eval", "teacher"), ("student-gold", "student on the goal's labels"),
          ("student-hard", "student on the judge's labels, hard"), ("student-soft", "student toward the judge's confidences (-soft)")]


def gold(out, seed, model):
    return 100 * json.load(open(os.path.join(out, "seed%s" % seed, model, "summary.json")))["val_gold_accuracy"]


def main():
    out, seeds = sys.argv[1], sys.argv[2:]
    print("| model | held-out agreement with the goal (%%, mean ± std over %d seeds) |" % len(seeds))
    print("|---|---|")
    for model, name in MODELS:
        xs = [gold(out, s, model) for s in seeds]
        print("| %s | %.1f ± %.1f |" % (name, statistics.fmean(xs), statistics.pstdev(xs)))
    print()
    for other, name in [("student-hard", "hard"), ("student-gold", "the goal's labels")]:
        d = [gold(out, s, "student-soft") - gold(out, s, other) for s in seeds]
        print("soft minus %s: %+.1f ± %.1f points (per seed %s)" % (
            name, statistics.fmean(d), statistics.pstdev(d), ", ".join("%+.1f" % x for x in d)))


if __name__ == "__main__":
    main()
