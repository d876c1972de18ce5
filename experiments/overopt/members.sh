#!/usr/bin/env bash
# A Markdown table of reward models' own summaries (rlhf rm's summary.json): training
# comparisons (distinct ones for a -bootstrap resample), held-out accuracy on the model's own
# held-out tenth, and agreement with the -gold goal on that tenth.
#
#   experiments/overopt/members.sh runs/overopt-ensboot/rm-* runs/overopt-ens/rm-* > members.md
set -euo pipefail
echo "| reward model | seed | bootstrap | training comparisons | distinct | held-out | held-out accuracy | held-out gold agreement |"
echo "|---|---|---|---|---|---|---|---|"
for d in "$@"; do
  f=$d/summary.json
  [ -f "$f" ] || continue
  jq -r --arg name "$(basename "$d")" '
    def pct: (. * 1000 | round) as $x | "\($x / 10 | floor).\($x % 10)%";
    "| \($name) | \(.config.seed) | \(if .config.bootstrap then "yes" else "no" end) | \(.train_comparisons) | \(.train_distinct_comparisons // .train_comparisons) | \(.val_comparisons) | \(.val_accuracy | pct) | "
    + (if .val_gold_accuracy then "\(.val_gold_accuracy | pct) (\(.val_gold_comparisons))" else "–" end) + " |"' "$f"
done
