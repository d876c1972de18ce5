#!/usr/bin/env bash
# Reward-model over-optimisation with a gold reward model (Gao, Schulman & Hilton 2022's
# synthetic setup): a fixed GPT reward model plays the human. It labels comparisons of the
# initial policy's completions; proxy reward models of three sizes of label budget learn
# from those labels; PPO and best-of-n optimise each proxy, and the gold model scores what
# they produce. Unlike VADER (run.sh), the gold score is not bounded.
#
#   experiments/overopt/goldrm.sh          # every run below; finished ones are skipped
#   go run ./experiments/overopt -runs runs/overopt-goldrm -out docs/results/overopt-goldrm -gold "gold RM"
#
# Gold: $GOLD (default the reward model of rlhf demo -seed 1 -queries 5000, trained on
# 4,500 VADER comparisons; scores standardised over the initial policy's completions).
# For each seed S in $SEEDS (default 1 2 3):
#   prefs-sS.jsonl     4,000 comparisons of two completions of train-split prompts (sampling
#                      seed 10+S), labelled by the gold model as a Boltzmann chooser at
#                      temperature $LABEL_BETA (in gold standard deviations), no random answers
#   rm-N-sS/           a proxy trained on the first N comparisons, N in $SIZES (nested
#                      subsets), with the demo's reward-model settings
#   rmeval-N-sS/       its agreement with the gold model on heldout.jsonl: 1,000 val-split
#                      comparisons labelled by the gold model without noise
#   ppo-N-sS-b0/       PPO against the proxy without a KL penalty, $STEPS steps at lr $LR
#   bon-N-sS.txt       best-of-n, n = 1..256, on $PROMPTS val prompts (seed 1; the same
#                      samples for every proxy)
#   bon-gold.txt       best-of-n selecting by the gold model itself
# Each command is appended to $RUNS/commands.txt, its wall-clock seconds to $RUNS/<run>.secs.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs/overopt-goldrm}
GOLD=${GOLD:-runs/demo-5k-seed1/rm}
SEEDS=${SEEDS:-1 2 3}
SIZES=${SIZES:-250 1000 4000}
LABEL_BETA=${LABEL_BETA:-0.3}
STEPS=${STEPS:-120}
LR=${LR:-2e-5}
PROMPTS=${PROMPTS:-128}
NS=1,2,4,8,16,32,64,128,256
mkdir -p "$RUNS"
go build -o "$RUNS/rlhf" ./cmd/rlhf
BIN=$RUNS/rlhf
. experiments/overopt/lib.sh

# 1. Gold labels: the proxies' training comparisons and the common held-out set.
for s in $SEEDS; do
  f=$RUNS/prefs-s$s.jsonl
  [ -f "$RUNS/prefs-s$s.secs" ] && continue
  run "prefs-s$s" "$BIN" prefs -policy models/tiny-gpt -goal "rm:$GOLD" -n 4000 -k 2 \
    -beta "$LABEL_BETA" -epsilon 0 -seed $((10 + s)) -out "$f"
done
[ -f "$RUNS/heldout.secs" ] || run heldout "$BIN" prefs -policy models/tiny-gpt -goal "rm:$GOLD" \
  -n 1000 -k 2 -beta 0 -epsilon 0 -split val -seed 99 -out "$RUNS/heldout.jsonl"
wait

# 2. Proxies, and their agreement with the gold model on the held-out set.
for s in $SEEDS; do
  for n in $SIZES; do
    [ -f "$RUNS/rm-$n-s$s/summary.json" ] && continue
    head -n "$n" "$RUNS/prefs-s$s.jsonl" > "$RUNS/comparisons-$n-s$s.jsonl"
    run "rm-$n-s$s" "$BIN" rm -data "$RUNS/comparisons-$n-s$s.jsonl" -init models/tiny-gpt \
      -out "$RUNS/rm-$n-s$s" -epochs 2 -lr 3e-4 -batch 16 -wd 0.01 -val-frac 0.1 -seed "$s" -gold "rm:$GOLD"
  done
done
wait
for s in $SEEDS; do
  for n in $SIZES; do
    [ -f "$RUNS/rmeval-$n-s$s.secs" ] && continue
    run "rmeval-$n-s$s" "$BIN" rm -data "$RUNS/heldout.jsonl" -init "$RUNS/rm-$n-s$s" \
      -out "$RUNS/rmeval-$n-s$s" -epochs 0 -normalise none -val-frac 0.99 -seed 1
  done
done
wait

# 3. Best-of-n: the same samples ranked by each proxy, and by the gold model.
bon() { # bon NAME [REWARD_DIR]
  local f=$RUNS/bon-$1.txt
  grep -q '^| 256 |' "$f" 2>/dev/null && return 0
  local reward=()
  [ -n "${2:-}" ] && reward=(-reward "$2")
  run "bon-$1" "$BIN" bon -policy models/tiny-gpt "${reward[@]}" -goal "rm:$GOLD" -n "$NS" \
    -prompts "$PROMPTS" -seed 1 -split val
}
bon gold
for s in $SEEDS; do
  for n in $SIZES; do
    bon "$n-s$s" "$RUNS/rm-$n-s$s"
  done
done

# 4. PPO against each proxy, gold logged per step.
for s in $SEEDS; do
  for n in $SIZES; do
    ppo_gold "ppo-$n-s$s-b0" "rm:$RUNS/rm-$n-s$s" "$s"
  done
done
wait
# The best-of-n tables are printed on stderr, so they are in the logs.
for f in "$RUNS"/bon-*.log; do cp "$f" "${f%.log}.txt"; done
echo "all runs finished in $RUNS"
