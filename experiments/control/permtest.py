#!/usr/bin/env python3
"""Compare the final returns of two cells of control runs.

    experiments/control/permtest.py CELL_A CELL_B [--seeds 1-20] [--below -500]

CELL_A and CELL_B are directories holding one run per seed (s1, s2, ...), as
grid.sh and pendulum_labels.sh write them, e.g.
/tmp/pendulum-labels/Pendulum-v1/random-700. Prints, over the seeds both cells
have (or --seeds), each cell's mean ± std (population), median and the number
of runs below --below, the two-sided permutation test of the difference in
means (20000 shuffles, fixed seed) and Fisher's exact test of the counts below
--below. Python 3 standard library only.
"""
import argparse
import json
import os
import random
import statistics as st
import sys


def load(cell):
    out = {}
    for name in os.listdir(cell):
        path = os.path.join(cell, name, "summary.json")
        if name.startswith("s") and name[1:].isdigit() and os.path.exists(path):
            with open(path) as f:
                out[int(name[1:])] = json.load(f)["final_return"]
    return out


def seed_range(text):
    seeds = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.update(range(int(lo), int(hi or lo) + 1))
    return seeds


def perm_p(a, b, n=20000):
    rnd = random.Random(1)
    obs = abs(st.mean(a) - st.mean(b))
    pool = a + b
    k = 0
    for _ in range(n):
        rnd.shuffle(pool)
        if abs(st.mean(pool[: len(a)]) - st.mean(pool[len(a):])) >= obs - 1e-9:
            k += 1
    return k / n


def fisher_p(k1, n1, k2, n2):
    """Two-sided Fisher's exact test of k1/n1 against k2/n2 (sum of the
    hypergeometric probabilities no larger than the observed one)."""
    from math import comb

    k, n = k1 + k2, n1 + n2

    def prob(x):
        return comb(n1, x) * comb(n2, k - x) / comb(n, k)

    obs = prob(k1)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(prob(x) for x in range(lo, hi + 1) if prob(x) <= obs * (1 + 1e-9)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--seeds", help="e.g. 1-20 or 1-3,21-40 (default: every seed both cells have)")
    ap.add_argument("--below", type=float, default=-500, help="count runs whose return is below this")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    seeds = set(a) & set(b)
    if args.seeds:
        seeds &= seed_range(args.seeds)
    seeds = sorted(seeds)
    if len(seeds) < 2:
        sys.exit(f"permtest: {len(seeds)} seeds common to both cells; need at least 2")
    xa, xb = [a[s] for s in seeds], [b[s] for s in seeds]
    print(f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})")
    for name, x in ((args.a, xa), (args.b, xb)):
        below = sum(v < args.below for v in x)
        print(f"{name}: {st.mean(x):.1f} ± {st.pstdev(x):.1f}, median {st.median(x):.0f}, below {args.below:g}: {below}/{len(x)}")
    print(f"difference of means {st.mean(xb) - st.mean(xa):+.1f}, permutation p = {perm_p(xa, xb):.3f}")
    ka, kb = sum(v < args.below for v in xa), sum(v < args.below for v in xb)
    print(f"runs below {args.below:g}: {ka}/{len(xa)} against {kb}/{len(xb)}, Fisher's exact p = {fisher_p(ka, len(xa), kb, len(xb)):.3f}")


if __name__ == "__main__":
    main()
