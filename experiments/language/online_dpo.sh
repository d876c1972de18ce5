#!/usr/bin/env bash
# Online DPO round by round, with each round's policy measured: `rlhf dpo
# -online r` runs round r (it keeps rounds 1..r-1 from the calls before:
# N completions of PROMPTS train prompts sampled from the latest policy, the
# best against the worst under the reward model RM as pairs, one epoch of
# DPO at β BETA and learning rate 1e-4 against the pretrained model), then
# `rlhf eval` measures the round's policy: gold sentiment and KL to the
# pretrained model on 128 held-out prompts. Prints one markdown row per round.
#
#   RM=runs/demo-5k-seed1/rm experiments/language/online_dpo.sh [ROUNDS]   (default 3)
#
# OUT (default runs/online-dpo; emptied first) gets the run (round<r>/ with pairs.jsonl,
# the DPO checkpoint and metrics; eval.json beside them); BETA (default 1),
# N (4), PROMPTS (1000), SEED (1) and POLICY (models/tiny-gpt) change the
# settings. experiments/language -odpo-beta runs the same method inside one
# process over several seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm_dir=${RM:?set RM to a reward model directory, e.g. RM=runs/demo-5k-seed1/rm}
rounds=${1:-3}
out=${OUT:-runs/online-dpo}
beta=${BETA:-1}
n=${N:-4}
prompts=${PROMPTS:-1000}
seed=${SEED:-1}
base=${POLICY:-models/tiny-gpt}
rm -rf "$out"
mkdir -p "$out"
go build -o "$out/rlhf" ./cmd/rlhf
echo "| round | gold sentiment | KL to the pretrained model (nats) | best sample's reward (mean) | seconds |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  dir=$out/round$r
  start=$(date +%s)
  "$out/rlhf" dpo -online "$r" -reward "$rm_dir" -online-n "$n" -online-prompts "$prompts" -policy "$base" \
    -beta "$beta" -lr 1e-4 -val-frac 0 -kl-prompts 0 -seed "$seed" -out "$out" > "$out/round$r.log" 2>&1
  "$out/rlhf" eval -policy "$dir" -ref "$base" -prompts 128 -seed "$seed" -out "$dir/eval.json" > "$dir/eval.txt" 2>&1
  secs=$(( $(date +%s) - start ))
  # The best-of-n table of this round's samples: | n | KL | proxy score | ...
  best=$(awk -F'|' -v n="$n" '$2 + 0 == n && $2 ~ /[0-9]/ {gsub(/ /, "", $4); print $4; exit}' "$out/round$r.log")
  jq -r --arg r "$r" --arg b "$best" --arg t "$secs" \
    '"| \($r) | \(.gold_mean*1000|round/1000) ± \(.gold_std*1000|round/1000) | \(.kl_mean*100|round/100) ± \(.kl_std*100|round/100) | \($b) | \($t) |"' "$dir/eval.json"
done
