#!/usr/bin/env bash
# Reruns the reward-model tables of docs/results/rm.md with the current build: the 48,000-prompt
# pairs file, one reward model per seed 1 2 3, and the best-of-4 run, with the same commands as
# that page (plus -gold sentiment, which reports the agreement with VADER's own ordering in the
# same run). Prints the tables' rows from each run's summary.json. About 30 minutes on 2 cores.
#
#   experiments/rm/rerun.sh [WORKDIR]        (default runs/rm-rerun; finished steps are skipped)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-runs/rm-rerun}
mkdir -p "$W"
go build -o "$W/rlhf" ./cmd/rlhf
R=$W/rlhf
# step NAME CMD...: run CMD once (skipped when $W/NAME.done exists), stderr to $W/NAME.log.
step() {
  local name=$1
  shift
  [ -f "$W/$name.done" ] && return 0
  echo "$*" >> "$W/commands.txt"
  local start=$(date +%s)
  nice "$@" 2> "$W/$name.log"
  echo $(( $(date +%s) - start )) > "$W/$name.done"
}
step prefs1 $R prefs -policy models/tiny-gpt -out "$W/prefs-s1.jsonl" -n 16000 -k 2 -beta 0.1 -epsilon 0.05 -max-new-tokens 24 -seed 1 &
step prefs2 $R prefs -policy models/tiny-gpt -out "$W/prefs-s2.jsonl" -n 32000 -k 2 -beta 0.1 -epsilon 0.05 -max-new-tokens 24 -seed 2 &
wait
cat "$W/prefs-s1.jsonl" "$W/prefs-s2.jsonl" > "$W/sentiment-pairs-48k.jsonl"
step best4 $R prefs -policy models/tiny-gpt -out "$W/sentiment-best4.jsonl" -n 12000 -k 4 -format bestof -beta 0.1 -epsilon 0.05 -max-new-tokens 24 -seed 4 &
step rm48-s1 $R rm -data "$W/sentiment-pairs-48k.jsonl" -init models/tiny-gpt -out "$W/rm48-s1" -epochs 1 -lr 3e-4 -batch 16 -seed 1 -gold sentiment &
wait
step rm48-s2 $R rm -data "$W/sentiment-pairs-48k.jsonl" -init models/tiny-gpt -out "$W/rm48-s2" -epochs 1 -lr 3e-4 -batch 16 -seed 2 -gold sentiment &
step rm48-s3 $R rm -data "$W/sentiment-pairs-48k.jsonl" -init models/tiny-gpt -out "$W/rm48-s3" -epochs 1 -lr 3e-4 -batch 16 -seed 3 -gold sentiment &
wait
step rm-best4-s1 $R rm -data "$W/sentiment-best4.jsonl" -init models/tiny-gpt -out "$W/rm-best4-s1" -epochs 1 -lr 3e-4 -batch 16 -seed 1 -gold sentiment
for f in prefs1 prefs2 best4; do grep -h "wrote\|picks" "$W/$f.log"; done
echo "| run | held-out comparisons | accuracy before training | held-out accuracy | held-out loss | agreement with VADER (comparisons) | train seconds |"
for r in rm48-s1 rm48-s2 rm48-s3 rm-best4-s1; do
  jq -r --arg r "$r" --arg secs "$(cat "$W/$r.done")" \
    '"| \($r) | \(.val_comparisons) | \(.val_accuracy_before*1000|round/1000) | \(.val_accuracy*1000|round/1000) | \(.val_loss*1000|round/1000) | \(.val_gold_accuracy*1000|round/1000) (\(.val_gold_comparisons)) | \($secs) |"' \
    "$W/$r/summary.json"
done
