#!/usr/bin/env python3
"""Prints how the AI judge of experiments/people/online_dpo.sh runs fared per
arm and round, pooled over the runs given: its temperature (judge.json; mean
± std over runs), the groups whose answer it kept, the groups people were
asked (those it left and those audited), people's agreement with its audited
answers (judge.json), its stated confidence on all its answers (the mean of
P(its pick beats the other) = sigmoid(|score difference| / temperature)), its
agreement with the gold goal on all its answers and on those it kept, and
whether its highest score picks the goal's choice on the groups it left (its
ledger judge.jsonl, each completion scored with label.py's lipogram), and
people's agreement with the goal (people.jsonl); then, per arm, the share
of the pairs trained on (pairs.jsonl) that agree with the goal, and the
goal's mean score difference in those that do and those that do not. Groups whose completions
score the same under the goal are left out of every agreement, as the
scripted person calls them ties. With --people-error E (people's error
rate), it then reads each audited arm's agreement over rounds 2 on back as
the judge's accuracy: agreement = E + (1 - 2E) x accuracy. Standard library
only.

    python3 experiments/people/audit_table.py 6 runs/people-recal-seed1 runs/people-recal-seed2
    python3 experiments/people/audit_table.py --people-error 0.2 6 runs/people-recaln-flip-seed1
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label import lipogram  # noqa: E402
from odpo_table import arms as all_arms  # noqa: E402


def arms(out):
    """The arms of the run in out that people alone label (people) or a
    judge helps (those with judge.json); arms of several people a group
    without a judge are left to consensus_table.py."""
    return [a for a in all_arms(out)
            if a == "people" or os.path.exists(os.path.join(out, a, "round1", "judge.json"))]


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
    agree = decided = kagree = kdecided = conf = lagree = ldecided = 0
    for line in open(os.path.join(d, "judge.jsonl")):
        g = json.loads(line)
        gold = [lipogram(c, "e") for c in g["completions"]]
        best = max(gold)
        if gold.count(best) > 1:
            continue
        if g["pick"] < 0:  # left to people: would its highest score have been right?
            lagree += gold.index(best) == g["scores"].index(max(g["scores"]))
            ldecided += 1
            continue
        s = sorted(g["scores"], reverse=True)
        conf += 1 / (1 + math.exp(-(s[0] - s[1]) / tally["temperature"]))
        right = gold.index(best) == g["pick"]
        agree, decided = agree + right, decided + 1
        if not g.get("audited"):
            kagree, kdecided = kagree + right, kdecided + 1
    return (tally, agree, decided, kagree, kdecided, conf) + people_stats(d) + (lagree, ldecided)


def main():
    args = sys.argv[1:]
    eps = None  # --people-error E: people's error rate, to read the audits back as the judge's accuracy
    if args[0] == "--people-error":
        eps, args = float(args[1]), args[2:]
    rounds, outs = int(args[0]), args[1:]
    print("| arm | round | judge's temperature | groups it kept (mean) | groups people answered (mean) "
          "| people agree with its audited answers | its stated confidence | it agrees with the goal: all its answers "
          "| its kept answers | people agree with the goal | its highest score on the groups it left agrees with the goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arm in arms(outs[0]):
        for r in range(1, rounds + 1):
            if arm == "people":
                ps = [people_stats(os.path.join(out, arm, "round%d" % r)) for out in outs]
                print("| people | %d | | | all | | | | | %s | |" % (r, pct(sum(p[0] for p in ps), sum(p[1] for p in ps))))
                continue
            st = [round_stats(os.path.join(out, arm, "round%d" % r)) for out in outs]
            ts = [s[0]["temperature"] for s in st]
            kept = statistics.fmean(s[0]["kept"] for s in st)
            asked = statistics.fmean(s[0]["deferred"] + s[0]["audit"]["queries"] for s in st)
            aud = pct(sum(s[0]["audit"]["agree"] for s in st), sum(s[0]["audit"]["answers"] for s in st))
            conf = "%.1f%%" % (100.0 * sum(s[5] for s in st) / sum(s[2] for s in st))
            print("| %s | %d | %.3f ± %.3f | %.0f | %.0f | %s | %s | %s | %s | %s | %s |" % (
                arm, r, statistics.fmean(ts), statistics.pstdev(ts), kept, asked, aud, conf,
                pct(sum(s[1] for s in st), sum(s[2] for s in st)), pct(sum(s[3] for s in st), sum(s[4] for s in st)),
                pct(sum(s[6] for s in st), sum(s[7] for s in st)), pct(sum(s[8] for s in st), sum(s[9] for s in st))))


    print()
    for arm in arms(outs[0]):
        gaps = {True: [], False: []}  # the goal's score difference of the right and the wrong pairs
        for out in outs:
            for r in range(1, rounds + 1):
                for line in open(os.path.join(out, arm, "round%d" % r, "pairs.jsonl")):
                    rec = json.loads(line)
                    c, j = lipogram(rec["chosen"], "e"), lipogram(rec["rejected"], "e")
                    if c != j:
                        gaps[c > j].append(abs(c - j))
        right, wrong = gaps[True], gaps[False]
        print("%s: %s of the pairs it trained on (all rounds) agree with the goal; the goal's score difference "
              "is %s on average in the wrong ones, %.3f in the right ones" % (
                  arm, pct(len(right), len(right) + len(wrong)), "%.3f" % statistics.fmean(wrong) if wrong else "- (none)",
                  statistics.fmean(right)))
    for arm in arms(outs[0]):
        if arm == "people" or eps is None:
            continue
        st = [round_stats(os.path.join(out, arm, "round%d" % r)) for out in outs for r in range(2, rounds + 1)]
        agree, n = sum(s[0]["audit"]["agree"] for s in st), sum(s[0]["audit"]["answers"] for s in st)
        if not n:
            continue
        p = agree / n
        print()
        print("%s, rounds 2-%d: people agreed with the judge on %d of %d audited answers (%.1f%%); with people wrong %g of "
              "the time, the judge is right (%.3f - %g) / (1 - 2 x %g) = %.3f of the time (standard error %.3f)" % (
                  arm, rounds, agree, n, 100 * p, eps, p, eps, eps, (p - eps) / (1 - 2 * eps),
                  math.sqrt(p * (1 - p) / n) / (1 - 2 * eps)))


if __name__ == "__main__":
    main()
