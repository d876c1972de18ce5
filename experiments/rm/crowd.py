#!/usr/bin/env python3
"""Writes several noisy people's answers to the pairs of a preference file:
each of --people labelers (p1, p2, ...) answers every pair, picking the
file's chosen completion and, with probability --flip (independently for
each labeler and pair, seeded by --seed; a comma-separated list gives each
labeler their own), the other one; each answer is a
pair record with "query_id" q<line> and "labeler". --first also writes p1's
answers alone. Standard library only.

    python3 experiments/rm/crowd.py --people 3 --flip 0.2 --seed 1 pairs.jsonl crowd.jsonl --first one.jsonl
"""
import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--people", type=int, default=3)
    ap.add_argument("--flip", default="0.2", help="each labeler's chance of the other completion: one for all, or one each")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", help="also write the first labeler's answers alone to this file")
    a = ap.parse_args()
    try:
        flips = [float(f) for f in a.flip.split(",")]
    except ValueError:
        ap.error("--flip %r: want a number or one per labeler, comma-separated" % a.flip)
    if len(flips) == 1:
        flips *= a.people
    if a.people < 1 or len(flips) != a.people or not all(0 <= f <= 1 for f in flips):
        ap.error("--people must be >= 1 and --flip in [0, 1], one for all or one per labeler")
    flipped = answers = 0
    with open(a.src) as src, open(a.out, "w") as out, open(a.first or "/dev/null", "w") as first:
        for i, line in enumerate(src):
            rec = json.loads(line)
            for p in range(1, a.people + 1):
                ans = {"prompt": rec["prompt"], "chosen": rec["chosen"], "rejected": rec["rejected"],
                       "query_id": "q%d" % i, "labeler": "p%d" % p, "source": "human"}
                if random.Random("%d-%d-%d" % (a.seed, i, p)).random() < flips[p - 1]:
                    ans["chosen"], ans["rejected"] = ans["rejected"], ans["chosen"]
                    flipped += 1
                answers += 1
                out.write(json.dumps(ans) + "\n")
                if p == 1 and a.first:
                    first.write(json.dumps(ans) + "\n")
    print("crowd.py: %d answers, %d flipped (%.1f%%)" % (answers, flipped, 100.0 * flipped / max(answers, 1)))


if __name__ == "__main__":
    main()
