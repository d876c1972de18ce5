#!/usr/bin/env bash
# Online RLHF with PPO, people and an AI judge, end to end on one machine: `rlhf demo -labeler
# human -rounds 2` on the lipogram goal, its comparisons answered through `rlhf serve` by a scripted
# person (label.py --rule lipogram: the higher lipogram score, the gold goal itself), in two arms
# on the same seed:
#   people  the person answers every comparison;
#   judge   with -judge: an AI judge (a reward model trained for 2 epochs on 10,000 pairs of the
#           pretrained model's samples labelled by the lipogram goal, as in online_dpo.sh) answers
#           the comparisons where P(its pick wins) >= 0.5 + ABSTAIN, the person the rest.
# The demo's settings are its defaults except -queries QUERIES (1000), -steps STEPS (50), -goal
# lipogram and -seed SEED (1). Prints one markdown row per arm from its eval.json.
#
#   experiments/people/demo_judge.sh          # about 6 minutes on 2 cores; output in $OUT
#
# OUT (default runs/people-demo-judge; removed first), ABSTAIN (0.2), ADDR (127.0.0.1:18184).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/people-demo-judge}
QUERIES=${QUERIES:-1000}
STEPS=${STEPS:-50}
ABSTAIN=${ABSTAIN:-0.2}
SEED=${SEED:-1}
ADDR=${ADDR:-127.0.0.1:18184}
. experiments/people/setup.sh

common=(-labeler human -db "$DB" -label-poll 200ms -rounds 2 -queries "$QUERIES" -steps "$STEPS" -goal lipogram -letter e
  -seed "$SEED" -instructions "$INSTRUCTIONS")
echo "| arm | gold lipogram before | after | KL (nats) | reward model: held-out accuracy | agreement with the goal | labels | the judge's | people's |"
echo "|---|---|---|---|---|---|---|---|---|"
for arm in people judge; do
  extra=()
  [ "$arm" = judge ] && extra=(-judge "$OUT/rm" -abstain "$ABSTAIN")
  "$BIN" demo "${common[@]}" "${extra[@]}" -out "$OUT/$arm" > "$OUT/$arm.out" 2> "$OUT/$arm.log"
  jq -r --arg arm "$arm" '"| \($arm) | \(.before.gold_mean*1000|round/1000) | \(.after.gold_mean*1000|round/1000) ± \(.after.gold_std*1000|round/1000) | \(.after.kl_mean*100|round/100) ± \(.after.kl_std*100|round/100) | \(.rm.accuracy*1000|round/10)% of \(.rm.decided) | \(.rm.gold_pair_accuracy*1000|round/10)% | \(.labels) | \(.judge_labels) | \(.labels - .judge_labels) |"' "$OUT/$arm/eval.json"
done
stop_person
