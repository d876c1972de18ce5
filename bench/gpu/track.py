#!/usr/bin/env python3
"""Compares the metrics of two runs of the same rlhf command, one on the CPU
engine and one on a device, and writes a markdown table.

    track.py [-tol 0.05] [-o track.md] [-noise NAME=DIR ...] NAME CPU_DIR DEV_DIR [NAME CPU_DIR DEV_DIR ...]

Each DIR is a run directory with metrics.jsonl (report.Logger's lines: step,
time and metric names). For every metric both runs log, the table gives its
first and last values on each side, the largest absolute difference over the
steps both logged, and that difference relative to the CPU curve's largest
magnitude (so a curve that passes through 0, like the KL at step 1, is judged
on its scale rather than point by point).

A run that samples (PPO) is chaotic: one token drawn differently, e.g. where
float32 rounding moves a CDF boundary, changes a completion, its score and
every later update. For such runs, -noise NAME=DIR names CPU runs of the same
command with other seeds (repeat it for several); the largest difference
between any two of the CPU runs (this one and the seed runs) is the seed
noise of each metric. A curve tracks when both
runs logged the same steps and its largest difference is at most -tol
(default 5%) of the CPU curve's scale or, where seed runs were given, at most
the seed noise: the device run is no further from the CPU run than a CPU run
with another seed. When both directories hold samples.jsonl (rlhf ppo), the
table also counts the completions that are identical on both sides and
gives the first step where they differ; the steps before it must agree to
-tol, and only the later ones may use the seed noise.

Exit status: 0 when every compared curve tracks, 1 when one does not, 2 when
a run has no metrics. Python 3 standard library only.
"""
import json
import math
import os
import sys

# The metrics compared, per kind of run; others are ignored.
KEYS = [
    "train/loss", "rm/accuracy", "rm/loss", "rm/margin",
    "objective/scores", "objective/kl", "objective/entropy", "objective/rlhf_reward",
    "loss/policy_avg", "loss/value_avg", "policy/approxkl", "val/explained_variance",
]


def load(path):
    """Returns {metric: {step: value}} from a metrics.jsonl, the last value
    of a step winning."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                raise SystemExit(f"track: {path}:{n}: {e}")
            step = r.get("step")
            for k, v in r.items():
                if k in ("step", "time"):
                    continue
                if isinstance(v, str) and v in ("NaN", "+Inf", "-Inf"):
                    v = float(v)  # report.Logger spells non-finite values as strings
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(k, {})[step] = float(v)
    return out


def gap(x, y):
    """Returns |x - y|: 0 when both are NaN or the same infinity, +Inf when
    only one is finite or NaN."""
    if x == y or (math.isnan(x) and math.isnan(y)):
        return 0.0
    if not (math.isfinite(x) and math.isfinite(y)):
        return float("inf")
    return abs(x - y)


def samples(path):
    """Returns the (step, prompt, completion) triples of a samples.jsonl."""
    rows = []
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            rows.append((r.get("step"), r.get("prompt"), r.get("completion")))
    return rows


def max_gap(ca, cb):
    """Returns the largest gap of two curves over their common steps (None
    without any)."""
    steps = set(ca) & set(cb)
    return max((gap(ca[s], cb[s]) for s in steps), default=None)


def compare(name, cpu_dir, dev_dir, tol, noise_dirs=()):
    """Returns the table rows of one pair of runs and whether all tracked."""
    paths = [os.path.join(d, "metrics.jsonl") for d in (cpu_dir, dev_dir, *noise_dirs)]
    for p in paths:
        if not os.path.exists(p):
            print(f"track: {name}: no {p}", file=sys.stderr)
            return None, False
    a, b = load(paths[0]), load(paths[1])
    seeds = [load(p) for p in paths[2:]]
    # The samples: the first step whose completions differ (None: none do).
    sample_row, first_diff = None, None
    sa, sb = [os.path.join(d, "samples.jsonl") for d in (cpu_dir, dev_dir)]
    if os.path.exists(sa) and os.path.exists(sb):
        xa, xb = samples(sa), samples(sb)
        same = sum(1 for x, y in zip(xa, xb) if x == y)
        first_diff = next((x[0] for x, y in zip(xa, xb) if x != y), None)
        if first_diff is None and len(xa) != len(xb):
            first_diff = min(len(xa), len(xb))
        note = f"identical: {same} of {max(len(xa), len(xb))}"
        if first_diff is not None:
            note += f"; first difference at step {first_diff}"
        sample_row = f"| {name} | samples.jsonl completions | {max(len(xa), len(xb))} | | | | | | {note} |"
    rows, ok = [], True
    for k in KEYS:
        if k not in a and k not in b:
            continue
        ca, cb = a.get(k, {}), b.get(k, {})
        steps = sorted(set(ca) & set(cb))
        if not steps:
            rows.append(f"| {name} | {k} | {len(ca)} / {len(cb)} | | | | | | no common steps |")
            ok = False
            continue
        scale = max((abs(ca[s]) for s in steps if math.isfinite(ca[s])), default=0.0)

        def rel(d):
            return d / scale if scale > 0 else (0.0 if d == 0 else float("inf"))

        diff = max_gap(ca, cb)
        # While the samples agree, the runs must agree to the tolerance;
        # after they diverge, within the seed noise (when measured).
        lock = [s for s in steps if first_diff is None or s < first_diff]
        after = [s for s in steps if s not in lock]
        lock_rel = rel(max((gap(ca[s], cb[s]) for s in lock), default=0.0))
        after_diff = max((gap(ca[s], cb[s]) for s in after), default=0.0)
        cpus = [ca] + [n.get(k, {}) for n in seeds]
        pairs = [max_gap(x, y) for i, x in enumerate(cpus) for y in cpus[i + 1:]]
        noise = max((g for g in pairs if g is not None), default=None)
        same_steps = set(ca) == set(cb)
        tracks = same_steps and lock_rel <= tol and (rel(after_diff) <= tol or (noise is not None and after_diff <= noise))
        ok = ok and tracks
        first, last = steps[0], steps[-1]
        verdict = "yes" if tracks else ("no (steps differ)" if not same_steps else "no")
        noise_s = "" if noise is None else f"{noise:.3g}"
        split = f"{lock_rel:.2g}" if not after else f"{lock_rel:.2g} before step {first_diff}, {rel(after_diff):.2g} after"
        rows.append(f"| {name} | {k} | {len(steps)} | {ca[first]:.4g} / {cb[first]:.4g} | {ca[last]:.4g} / {cb[last]:.4g} "
                    f"| {diff:.3g} | {split} | {noise_s} | {verdict} |")
    if sample_row:
        rows.append(sample_row)
    return rows, ok


def main(argv):
    tol, out = 0.05, None
    noise = {}
    args = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-tol", "-o", "-noise") and i + 1 < len(argv):
            flag, val = argv[i], argv[i + 1]
            i += 2
            if flag == "-tol":
                tol = float(val)
            elif flag == "-o":
                out = val
            else:
                name, sep, d = val.partition("=")
                if not sep or not d:
                    print(f"track: -noise {val!r}: want NAME=DIR", file=sys.stderr)
                    return 2
                noise.setdefault(name, []).append(d)
        else:
            args.append(argv[i])
            i += 1
    if not args or len(args) % 3 != 0:
        print("usage: track.py [-tol 0.05] [-o track.md] [-noise NAME=DIR ...] NAME CPU_DIR DEV_DIR [NAME CPU_DIR DEV_DIR ...]", file=sys.stderr)
        return 2
    lines = [
        f"Metrics of the CPU engine (cpu) against the device (dev), per step. A curve tracks when "
        f"max |cpu - dev| is at most {tol:.0%} of the CPU curve's largest magnitude (its scale) while both runs draw the same samples, "
        f"and after their samples first differ, at most that or at most the seed noise "
        f"(the largest max |cpu_i - cpu_j| between CPU runs with different seeds: {', '.join(f'{len(v)} seed runs for {k}' for k, v in noise.items()) or 'no seed runs'}).",
        "",
        "| run | metric | steps | first cpu / dev | last cpu / dev | max abs diff | max diff / scale | seed noise (abs) | tracks |",
        "|---|---|---:|---|---|---:|---:|---:|---|",
    ]
    status = 0
    for j in range(0, len(args), 3):
        rows, ok = compare(args[j], args[j + 1], args[j + 2], tol, noise.get(args[j], ()))
        if rows is None:
            lines.append(f"| {args[j]} | (no metrics) | | | | | | | no |")
            status = 2
            continue
        lines += rows
        if not ok and status == 0:
            status = 1
    text = "\n".join(lines) + "\n"
    if out:
        with open(out, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
