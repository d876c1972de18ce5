#!/usr/bin/env bash
# Draws the PPO vs DPO vs best-of-n frontier of docs/results/language.md over
# several seeds: one `rlhf demo -queries 5000` run per seed (its comparisons
# are that seed's label budget, its reward model the one PPO and best-of-n
# use), then experiments/language on all of them, which writes the mean and
# std over seeds to frontier.json, frontier.svg and frontier.md.
#
#   experiments/language/frontier_seeds.sh [seeds...]     (default: 1 2 3)
#
# Demo runs go to $OUT/demo-5k-seed<S>/ (OUT defaults to runs), logs beside
# them; the frontier to $RESULTS (default docs/results/language). With
# REUSE=1 a demo run directory that already holds eval.json is kept (the demo
# is deterministic for a given build) instead of being run again. ARGS adds
# flags to experiments/language, e.g. PPO against RLOO alone:
#   REUSE=1 RESULTS=docs/results/language/rloo ARGS="-bon-n= -dpo-beta= -ppo-kl 3,6 -rloo-kl 3,6" \
#     experiments/language/frontier_seeds.sh 1 2 3 4 5
set -euo pipefail
cd "$(dirname "$0")/../.."
out_root=${OUT:-runs}
results=${RESULTS:-docs/results/language}
seeds=("$@")
[ $# -eq 0 ] && seeds=(1 2 3)
mkdir -p "$out_root"
go build -o "$out_root/rlhf" ./cmd/rlhf
froms=()
for s in "${seeds[@]}"; do
  out=$out_root/demo-5k-seed$s
  if [ "${REUSE:-0}" = 1 ] && [ -f "$out/eval.json" ]; then
    echo "frontier_seeds: reusing $out" >&2
  else
    rm -rf "$out"
    echo "frontier_seeds: rlhf demo -seed $s -queries 5000 -out $out" >&2
    start=$(date +%s)
    "$out_root/rlhf" demo -seed "$s" -queries 5000 -out "$out" > "$out.log" 2>&1
    echo "frontier_seeds: seed $s done in $(( $(date +%s) - start ))s" >&2
  fi
  froms+=("$out")
done
from=$(IFS=,; echo "${froms[*]}")
# shellcheck disable=SC2086 # ARGS: more flags of experiments/language, split on spaces
go run ./experiments/language -from "$from" -out "$results" -ppo-steps 50 -dpo-epochs 1 ${ARGS:-}
