#!/usr/bin/env bash
# Reward-model over-optimisation runs (Gao, Schulman & Hilton 2022) on the language side:
# optimise a learned proxy reward (a GPT reward model trained on synthetic VADER labels)
# and watch the gold score (VADER itself) as the policy moves away from its start.
#
#   experiments/overopt/run.sh            # every run below; finished ones are skipped
#   go run ./experiments/overopt -runs runs/overopt -out docs/results/overopt
#
# Proxies, for each demo seed S in $SEEDS (default 1 2 3):
#   demo  the reward model of runs/demo-5k-seedS/rm (rlhf demo: 5,000 queries, the
#         comparisons without a tie, 90% of them for training)
#   500   a weaker one: rlhf rm on the first 500 comparisons of the same demo, with the
#         demo's reward-model settings (2 epochs, lr 3e-4, batch 16, weight decay 0.01)
# Runs, each into $RUNS (default runs/overopt):
#   ppo-<rm>-sS-b<β>/  PPO against the proxy with a fixed KL coefficient β (β = 0 for every
#                      seed, β = $BETA2 for seed 1 only), $STEPS steps at learning rate $LR
#                      (the demo's 1e-4 without a KL penalty reaches 30 nats in 25 steps, too
#                      fast to trace the curve); gold logged per step
#   bon-<rm>-sS.txt    best-of-n, n = 1..256, on $PROMPTS validation prompts (seed 1)
#   bon-gold.txt       best-of-n selecting by VADER itself (the ceiling)
# The exact command of each run is appended to $RUNS/commands.txt and its wall-clock
# seconds to $RUNS/<run>.secs. At most two runs at a time, under nice: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs/overopt}
SEEDS=${SEEDS:-1 2 3}
STEPS=${STEPS:-300}
BETA2=${BETA2:-0.03}
LR=${LR:-2e-5}
PROMPTS=${PROMPTS:-128}
NS=1,2,4,8,16,32,64,128,256
mkdir -p "$RUNS"
go build -o "$RUNS/rlhf" ./cmd/rlhf
BIN=$RUNS/rlhf

. experiments/overopt/lib.sh

# 1. The weaker reward models (seconds each); PPO and best-of-n need them, so wait.
for s in $SEEDS; do
  rm_dir=$RUNS/rm-500-s$s
  [ -f "$rm_dir/summary.json" ] && continue
  head -n 500 "runs/demo-5k-seed$s/comparisons.jsonl" > "$RUNS/comparisons-500-s$s.jsonl"
  run "rm-500-s$s" "$BIN" rm -data "$RUNS/comparisons-500-s$s.jsonl" -init models/tiny-gpt \
    -out "$rm_dir" -epochs 2 -lr 3e-4 -batch 16 -wd 0.01 -val-frac 0.1 -seed "$s" -gold sentiment
done
wait

# Held-out accuracy of the 500-label models on many more pairs: the demo file's comparisons
# whose prompts rlhf rm's hash split holds out (none of them trained the 500-label model; the
# demo's own model is not scored this way, as it trained on the first 90% of the file, so its
# held-out accuracy is the one in runs/demo-5k-seedS/eval.json, on the last 10%).
for s in $SEEDS; do
  name=rmeval-500-s$s
  [ -f "$RUNS/$name.secs" ] && continue
  run "$name" "$BIN" rm -data "runs/demo-5k-seed$s/comparisons.jsonl" -init "$RUNS/rm-500-s$s" \
    -out "$RUNS/$name" -epochs 0 -normalise none -val-frac 0.1 -seed "$s" -gold sentiment
done

# 2. PPO against each proxy with a fixed β; gold (VADER) logged per step.
ppo() { # ppo RM SEED BETA
  local rm_dir=runs/demo-5k-seed$2/rm
  [ "$1" = 500 ] && rm_dir=$RUNS/rm-500-s$2
  local out=$RUNS/ppo-$1-s$2-b$3
  ppo_done "$out" && return 0
  local resume=()
  [ -d "$out/checkpoint" ] && resume=(-resume)
  run "ppo-$1-s$2-b$3" "$BIN" ppo -policy models/tiny-gpt -reward "rm:$rm_dir" -gold sentiment \
    -kl-target 0 -kl-coef "$3" -lr "$LR" -steps "$STEPS" -seed "$2" -out "$out" "${resume[@]}"
}
for s in $SEEDS; do
  ppo demo "$s" 0
  ppo 500 "$s" 0
done
ppo demo 1 "$BETA2"
ppo 500 1 "$BETA2"

# 3. Best-of-n: the same samples (seed 1, validation prompts) ranked by each proxy.
bon() { # bon NAME [REWARD_DIR]
  local f=$RUNS/bon-$1.txt
  grep -q '^| 256 |' "$f" 2>/dev/null && return 0
  local reward=()
  [ -n "${2:-}" ] && reward=(-reward "$2")
  run "bon-$1" "$BIN" bon -policy models/tiny-gpt "${reward[@]}" -goal sentiment -n "$NS" \
    -prompts "$PROMPTS" -seed 1 -split val
}
for s in $SEEDS; do
  bon "demo-s$s" "runs/demo-5k-seed$s/rm"
  bon "500-s$s" "$RUNS/rm-500-s$s"
done
bon gold
wait
# The best-of-n tables are printed on stderr, so they are in the logs.
for f in "$RUNS"/bon-*.log; do cp "$f" "${f%.log}.txt"; done
echo "all runs finished in $RUNS"
