#!/usr/bin/env bash
# Online RLHF on text with people, end to end on one machine: rlhf demo asks its comparisons
# through the label store in two rounds (the second sampled from the policy PPO has trained),
# rlhf serve shows them, and a scripted labeler (label.py) answers through the labeling API
# as a person would: it prefers completions with fewer letters e. The gold goal is the same
# lipogram, so the run's before/after gold score says whether the people's preference was
# learned.
#
#   experiments/people/run.sh            # about 2 minutes; output in $OUT
#
# The demo's settings are the defaults except those below; $OUT is removed first.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/people-demo}
QUERIES=${QUERIES:-1000}
STEPS=${STEPS:-50}
ADDR=${ADDR:-127.0.0.1:18182}
rm -rf "$OUT"
mkdir -p "$OUT"
go build -o "$OUT/rlhf" ./cmd/rlhf
BIN=$OUT/rlhf
DB=sqlite://$OUT/people/labels.db
RUN=people
"$BIN" demo -labeler human -db "$DB" -rounds 2 -queries "$QUERIES" -steps "$STEPS" -goal lipogram -letter e \
  -label-poll 200ms -instructions "Pick the completion with fewer letters e; Tie if they have as many." \
  -out "$OUT/people" > "$OUT/demo.out" 2> "$OUT/demo.log" &
demo=$!
until [ -f "$OUT/people/labels.db" ]; do sleep 0.2; done
RLHF_ADMIN_PASSWORD=demo-password "$BIN" serve -db "$DB" -run "$RUN" -addr "$ADDR" 2> "$OUT/serve.log" &
serve=$!
python3 experiments/people/label.py --url "http://$ADDR" --user admin --password demo-password \
  2> "$OUT/label.log" &
client=$!
status=0
wait "$demo" || status=$?
kill "$client" 2> /dev/null || true
wait "$client" || true
kill "$serve" 2> /dev/null || true
wait "$serve" 2> /dev/null || true
cat "$OUT/demo.out" "$OUT/label.log"
exit "$status"
