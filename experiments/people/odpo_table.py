#!/usr/bin/env python3
"""Prints the markdown table of experiments/people/online_dpo.sh from its
output directory: per arm and round, the policy's gold lipogram score and KL
to the pretrained model on held-out prompts (eval.json), how many groups the
person answered and the judge's answers trained on so far (the rounds' logs
and judge.json), and how often the
judge's answers agree with the goal (the rounds' pairs.jsonl, scored with
label.py's lipogram). Standard library only.

    python3 experiments/people/odpo_table.py runs/people-odpo 3
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from label import lipogram  # noqa: E402

ARMS = ["people", "peoples", "people3", "vote3", "vote3s", "judge", "alone", "recal", "recaln", "recals", "recala"]


def arms(out):
    """The arms of ARMS that the run in out has."""
    return [a for a in ARMS if os.path.isdir(os.path.join(out, a))]


def rows(out, rounds):
    """Yields one dict per arm and round of the run in out, after the
    pretrained model's (arm "pretrained", round 0)."""
    base = json.load(open(os.path.join(out, "base-eval.json")))
    yield {"arm": "pretrained", "round": 0, "gold": base["gold_mean"], "gold_std": base["gold_std"], "kl": 0.0, "kl_std": 0.0}
    for arm in arms(out):
        person = judge = 0
        for r in range(1, rounds + 1):
            d = os.path.join(out, arm, "round%d" % r)
            ev = json.load(open(os.path.join(d, "eval.json")))
            log = open(os.path.join(out, arm, "round%d.log" % r)).read()
            m = re.search(r"\d+ of (\d+) groups answered by (?:\d+ )?people", log)
            person += int(m.group(1)) if m else 0
            tally = os.path.join(d, "judge.json")
            if os.path.exists(tally):  # the judge's answers it kept (not audited)
                judge += json.load(open(tally))["kept"]
            else:  # a run from before judge.json
                m = re.search(r"answers (\d+) of \d+ groups", log)
                judge += int(m.group(1)) if m else 0
            agree = ai = pairs = 0
            for line in open(os.path.join(d, "pairs.jsonl")):
                rec = json.loads(line)
                pairs += 1
                if rec["source"] == "ai":
                    ai += 1
                    agree += lipogram(rec["chosen"], "e") > lipogram(rec["rejected"], "e")
            yield {"arm": arm, "round": r, "gold": ev["gold_mean"], "gold_std": ev["gold_std"], "kl": ev["kl_mean"],
                   "kl_std": ev["kl_std"], "person": person, "judge": judge, "judged": ai, "agree": agree, "pairs": pairs}


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    print("| arm | round | gold lipogram (mean ± std) | KL to pretrained (nats) | groups the person answered (total) "
          "| groups the judge answered (total) | judge agrees with the goal | pairs trained on |")
    print("|---|---|---|---|---|---|---|---|")
    for x in rows(out, rounds):
        if x["round"] == 0:
            print("| pretrained | 0 | %+.3f ± %.3f | 0 | | | | |" % (x["gold"], x["gold_std"]))
            continue
        print("| %s | %d | %+.3f ± %.3f | %.2f ± %.2f | %d | %d | %s | %d |" % (
            x["arm"], x["round"], x["gold"], x["gold_std"], x["kl"], x["kl_std"], x["person"], x["judge"],
            "%.1f%% of %d" % (100.0 * x["agree"] / x["judged"], x["judged"]) if x["judged"] else "", x["pairs"]))


if __name__ == "__main__":
    main()
