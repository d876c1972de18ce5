#!/usr/bin/env python3
"""Prints how the AI judge of experiments/people/online_dpo.sh runs fared per
arm and round, pooled over the runs given: its temperature (judge.json; mean
± std over runs), the groups whose answer it kept, the groups people were
asked (those it left and those audited), people's agreement with its audited
answers (judge.json), its stated confidence on all its answers (the mean of
P(its pick beats the other) = sigmoid(|score difference| / temperature)) and
its agreement with the gold goal on all its answers and on those it kept
(its ledger judge.jsonl, each completion scored with label.py's lipogram),
and people's agreement with the goal (people.jsonl). Groups whose completions score the same under the goal
are left out of both agreements, as the scripted person calls them ties.
Standard library only.

    python3 experiments/people/audit_table.py 6 runs/people-recal-seed1 runs/people-recal-seed2
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label import lipogram  # noqa: E402
from odpo_table import arms  # noqa: E402


def pct(a, n):
    return "%.1f%% of %d" % (100.0 * a / n, n) if n else ""


def people_stats(d):
    """How many of a round's answers of people (people.jsonl) agree with the
    goal, of those whose completions it scores differently."""
    agree = decided = 0
    path = os.path.join(d, "people.jsonl")
    for line in open(path) if os.path.exists(path) else []:
        rec = json.loads(line)
        c, r = lipogram(rec["chosen"], "e"), lipogram(rec["rejected"], "e")
        if c != r:
            agree, decided = agree + (c > r), decided + 1
    return agree, decided


def round_stats(d):
    """One round's judge.json and its ledger's agreement with the goal:
    (tally, agree, decided, kept agree, kept decided, summed confidence)."""
    tally = json.load(open(os.path.join(d, "judge.json")))
    agree = decided = kagree = kdecided = conf = 0
    for line in open(os.path.join(d, "judge.jsonl")):
        g = json.loads(line)
        if g["pick"] < 0:
            continue
        gold = [lipogram(c, "e") for c in g["completions"]]
        best = max(gold)
        if gold.count(best) > 1:
            continue
        s = sorted(g["scores"], reverse=True)
        conf += 1 / (1 + math.exp(-(s[0] - s[1]) / tally["temperature"]))
        right = gold.index(best) == g["pick"]
        agree, decided = agree + right, decided + 1
        if not g.get("audited"):
            kagree, kdecided = kagree + right, kdecided + 1
    return (tally, agree, decided, kagree, kdecided, conf) + people_stats(d)


def main():
    rounds, outs = int(sys.argv[1]), sys.argv[2:]
    print("| arm | round | judge's temperature | groups it kept (mean) | groups people answered (mean) "
          "| people agree with its audited answers | its stated confidence | it agrees with the goal: all its answers "
          "| its kept answers | people agree with the goal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm in arms(outs[0]):
        for r in range(1, rounds + 1):
            if arm == "people":
                ps = [people_stats(os.path.join(out, arm, "round%d" % r)) for out in outs]
                print("| people | %d | | | all | | | | | %s |" % (r, pct(sum(p[0] for p in ps), sum(p[1] for p in ps))))
                continue
            st = [round_stats(os.path.join(out, arm, "round%d" % r)) for out in outs]
            ts = [s[0]["temperature"] for s in st]
            kept = statistics.fmean(s[0]["kept"] for s in st)
            asked = statistics.fmean(s[0]["deferred"] + s[0]["audit"]["queries"] for s in st)
            aud = pct(sum(s[0]["audit"]["agree"] for s in st), sum(s[0]["audit"]["answers"] for s in st))
            conf = "%.1f%%" % (100.0 * sum(s[5] for s in st) / sum(s[2] for s in st))
            print("| %s | %d | %.3f ± %.3f | %.0f | %.0f | %s | %s | %s | %s | %s |" % (
                arm, r, statistics.fmean(ts), statistics.pstdev(ts), kept, asked, aud, conf,
                pct(sum(s[1] for s in st), sum(s[2] for s in st)), pct(sum(s[3] for s in st), sum(s[4] for s in st)),
                pct(sum(s[6] for s in st), sum(s[7] for s in st))))


if __name__ == "__main__":
    main()
