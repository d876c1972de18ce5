#!/usr/bin/env bash
# Reward models from three noisy people per pair: every answer, or their consensus (-aggregate
# vote). Per seed: N pairs of the pretrained model's samples labelled by the lipogram goal (rlhf
# prefs), then three scripted people who each answer every pair, wrong with probability FLIP
# independently (crowd.py); five students, each 2 epochs from the pretrained model: on the goal's
# own labels, on one person's answers, on all three people's answers (three records a pair), on
# their consensus (rlhf rm -aggregate vote: the one-coin model fitted to how often they agree),
# and toward the consensus's confidence (-aggregate vote -soft); and the consensus again for 6
# epochs, as many optimiser steps as the 2 epochs over all three answers (three records a pair) take.
# All are measured on the same
# held-out fifth of the pairs (split by prompt and seed): agreement with the goal's ordering.
# Prints one markdown row per seed, with the error rate the vote estimated from agreement alone.
#
#   experiments/rm/vote.sh [SEEDS...]        (default 1 2 3; about 7 minutes a seed on 2 cores)
#
# OUT (default runs/rm-vote), N (4000) and FLIP (0.2, or one rate a person: FLIP=0.05,0.3,0.3; "one
# person's answers" are then the first person's) change the settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/rm-vote}
N=${N:-4000}
FLIP=${FLIP:-0.2}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
mkdir -p "$OUT"
go build -o "$OUT/rlhf" ./cmd/rlhf
R=$OUT/rlhf
gold() { python3 -c 'import json,sys; print("%.1f" % (100 * json.load(open(sys.argv[1]))["val_gold_accuracy"]))' "$1/summary.json"; }
echo "| seed | people's answers flipped | error rate estimated from agreement | on the goal's labels | one person's answers | all three people's answers | their consensus (-aggregate vote) | toward its confidence (-soft) | consensus, 6 epochs | toward its confidence, 6 epochs |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for s in "${seeds[@]}"; do
  W=$OUT/seed$s
  rm -rf "$W"
  mkdir -p "$W"
  "$R" prefs -goal lipogram -letter e -beta 0 -epsilon 0 -n "$N" -seed $((s + 200)) -out "$W/pairs.jsonl" 2> "$W/prefs.log"
  flipped=$(python3 experiments/rm/crowd.py --people 3 --flip "$FLIP" --seed "$s" "$W/pairs.jsonl" "$W/crowd.jsonl" \
    --first "$W/one.jsonl" | grep -o '([0-9.]*%)' | tr -d '()')
  rmargs=(-epochs 2 -seed "$s" -gold lipogram -letter e)
  "$R" rm -data "$W/pairs.jsonl" "${rmargs[@]}" -out "$W/gold" > "$W/gold.log" 2>&1
  "$R" rm -data "$W/one.jsonl" "${rmargs[@]}" -out "$W/one" > "$W/one.log" 2>&1
  "$R" rm -data "$W/crowd.jsonl" "${rmargs[@]}" -out "$W/all" > "$W/all.log" 2>&1
  "$R" rm -data "$W/crowd.jsonl" "${rmargs[@]}" -aggregate vote -out "$W/vote" > "$W/vote.log" 2>&1
  "$R" rm -data "$W/crowd.jsonl" "${rmargs[@]}" -aggregate vote -soft -out "$W/votes" > "$W/votes.log" 2>&1
  rmargs6=(-epochs 6 -seed "$s" -gold lipogram -letter e)
  "$R" rm -data "$W/crowd.jsonl" "${rmargs6[@]}" -aggregate vote -out "$W/vote6" > "$W/vote6.log" 2>&1
  "$R" rm -data "$W/crowd.jsonl" "${rmargs6[@]}" -aggregate vote -soft -out "$W/votes6" > "$W/votes6.log" 2>&1
  est=$(grep -o 'error rate [0-9.]*' "$W/vote.log" | head -n 1 | awk '{print $3}')
  echo "| $s | $flipped | $est | $(gold "$W/gold") | $(gold "$W/one") | $(gold "$W/all") | $(gold "$W/vote") | $(gold "$W/votes") | $(gold "$W/vote6") | $(gold "$W/votes6") |"
done
