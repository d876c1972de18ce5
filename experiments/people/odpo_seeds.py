#!/usr/bin/env python3
"""Summarises several seeds' runs of experiments/people/online_dpo.sh: per
arm and round, the mean ± population std over the runs of gold lipogram and
KL, the groups the person and the judge answered so far (mean), and the
judge's agreement with the goal pooled over the runs; then, per seed, each
arm's last round against the people arm's, and each arm's rounds against the
people arm's gold at the same KL (linear between its rounds, from the
pretrained model at 0 nats; rounds beyond its largest KL are left out).
Standard library only.

    python3 experiments/people/odpo_seeds.py 3 runs/people-odpo-seed1 runs/people-odpo-seed2 runs/people-odpo-seed3
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odpo_table import arms, rows  # noqa: E402


def ms(xs, fmt):
    return (fmt + " ± " + fmt.replace("+", "")) % (statistics.fmean(xs), statistics.pstdev(xs))


def interp(xs, ys, x):
    """ys at x on the piecewise linear line through (xs, ys), xs ascending;
    None outside."""
    for i in range(1, len(xs)):
        if xs[i - 1] <= x <= xs[i]:
            if xs[i] == xs[i - 1]:
                return ys[i]
            return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return None


def matched(run, arm, rounds):
    """The differences between arm's rounds and the people arm's line at the
    same KL, for the rounds within its range."""
    pts = sorted([(0.0, run[("pretrained", 0)]["gold"])] + [(run[("people", r)]["kl"], run[("people", r)]["gold"]) for r in range(1, rounds + 1)])
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    out = []
    for r in range(1, rounds + 1):
        g = interp(xs, ys, run[(arm, r)]["kl"])
        if g is not None:
            out.append(run[(arm, r)]["gold"] - g)
    return out


def main():
    rounds, outs = int(sys.argv[1]), sys.argv[2:]
    runs = [{(x["arm"], x["round"]): x for x in rows(out, rounds)} for out in outs]
    names = arms(outs[0])
    print("| arm | round | gold lipogram | KL to pretrained (nats) | groups the person answered (total) "
          "| groups the judge answered (total) | judge agrees with the goal |")
    print("|---|---|---|---|---|---|---|")
    base = [run[("pretrained", 0)]["gold"] for run in runs]
    print("| pretrained | 0 | %s | 0 | | | |" % ms(base, "%+.3f"))
    for arm in names:
        for r in range(1, rounds + 1):
            xs = [run[(arm, r)] for run in runs]
            judged = sum(x["judged"] for x in xs)
            agree = "%.1f%%" % (100.0 * sum(x["agree"] for x in xs) / judged) if judged else ""
            print("| %s | %d | %s | %s | %.0f | %.0f | %s |" % (
                arm, r, ms([x["gold"] for x in xs], "%+.3f"), ms([x["kl"] for x in xs], "%.2f"),
                statistics.fmean(x["person"] for x in xs), statistics.fmean(x["judge"] for x in xs), agree))
    print()
    print("| arm, round %d, against people's | gold difference (mean ± std) | KL difference (nats) | per seed (gold) |" % rounds)
    print("|---|---|---|---|")
    for arm in names[1:]:
        dg = [run[(arm, rounds)]["gold"] - run[("people", rounds)]["gold"] for run in runs]
        dk = [run[(arm, rounds)]["kl"] - run[("people", rounds)]["kl"] for run in runs]
        print("| %s | %s | %s | %s |" % (arm, ms(dg, "%+.3f"), ms(dk, "%+.2f"), ", ".join("%+.3f" % d for d in dg)))
    print()
    print("| arm | gold against the people arm's at the same KL (mean over its rounds in range; mean ± std over seeds) "
          "| rounds in range | of which above | per seed |")
    print("|---|---|---|---|---|")
    for arm in names[1:]:
        per = [matched(run, arm, rounds) for run in runs]
        means = [statistics.fmean(d) for d in per if d]
        print("| %s | %s | %d of %d | %d | %s |" % (arm, ms(means, "%+.3f") if means else "", sum(len(d) for d in per),
                                                   rounds * len(runs), sum(x > 0 for d in per for x in d),
                                                   ", ".join("%+.3f" % m for m in means)))


if __name__ == "__main__":
    main()
