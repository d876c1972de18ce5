#!/usr/bin/env bash
# Runs `rlhf demo` with its default settings for several seeds and prints the
# before/after gold sentiment, the KL to the reference, the reward model's
# held-out accuracy and the wall-clock time of each, as a markdown table.
#
#   experiments/language/demo_seeds.sh [seeds...]     (default: 1 2 3)
#
# Runs go to $OUT/demo-seed<S>/ (OUT defaults to runs), logs beside them.
# ARGS adds flags to every demo, e.g. one-pass RLOO with the KL controller's
# immediate term:
#   OUT=runs/kl-gain ARGS="-advantage rloo -epochs 1 -kl-gain 2" experiments/language/demo_seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out_root=${OUT:-runs}
seeds=("$@")
[ $# -eq 0 ] && seeds=(1 2 3)
mkdir -p "$out_root"
go build -o "$out_root/rlhf" ./cmd/rlhf
echo "| seed | gold before | gold after | KL after (nats) | final β | RM held-out acc. | RM/gold pair acc. | wall clock |"
echo "|---|---|---|---|---|---|---|---|"
for s in "${seeds[@]}"; do
  out=$out_root/demo-seed$s
  rm -rf "$out"
  start=$(date +%s)
  # shellcheck disable=SC2086 # ARGS: more demo flags, split on spaces
  "$out_root/rlhf" demo -seed "$s" -out "$out" ${ARGS:-} > "$out.log" 2>&1
  secs=$(( $(date +%s) - start ))
  jq -r --arg s "$s" --arg t "${secs}s" \
    '"| \($s) | \(.before.gold_mean*1000|round/1000) ± \(.before.gold_std*1000|round/1000) | \(.after.gold_mean*1000|round/1000) ± \(.after.gold_std*1000|round/1000) | \(.after.kl_mean*100|round/100) ± \(.after.kl_std*100|round/100) | \(.final_kl_coef*1000|round/1000) | \(.rm.accuracy*1000|round/10)% (\(.rm.decided)) | \(.rm.gold_pair_accuracy*1000|round/10)% | \($t) |"' \
    "$out/eval.json"
done
