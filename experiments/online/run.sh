#!/usr/bin/env bash
# Offline vs online label collection on the language side, at one label budget: rlhf demo
# with all labels from the initial policy (-rounds 1) against the same budget asked in
# $ROUNDS rounds, each after the first sampled from the policy as PPO has trained it, with
# the reward model retrained on every label so far (Ziegler et al. 2019's online variant).
#
#   experiments/online/run.sh                 # finished runs are skipped
#   go run ./experiments/online -runs runs/online > docs/results/online/summary.md
#
# Every other setting is the demo's (VADER labeler with Boltzmann temperature 0.1, $STEPS PPO
# steps (default 50) with an adaptive KL target of $KLS nats (default 4), evaluation on 128
# held-out prompts). Runs go to $RUNS/<offline|online>-q<QUERIES>-kl<KL>-s<S>; commands to
# $RUNS/commands.txt; wall-clock seconds to $RUNS/<run>.secs. Two runs at a time, under nice.
# MODES (default "offline online") may add active: online, each later comparison the least certain
# of $POOL (default 4) candidates under the current reward model (-select margin); and ensemble:
# the candidate an ensemble of 3 reward models disputes most (-select disagree -members 3); and warm:
# online, each round's reward model continuing the previous one's training on the new labels (-rm-warm).
# The documented runs: the defaults; KLS=12 STEPS=100 QUERIES=1000 (seeds 1-5); and
# MODES="active ensemble" KLS=12 STEPS=100 QUERIES=1000 SEEDS="1 2 3 4 5"; and
# MODES=warm KLS=12 STEPS=100 QUERIES=1000 SEEDS="1 2 3 4 5".
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs/online}
SEEDS=${SEEDS:-1 2 3}
QUERIES=${QUERIES:-1000 4000}
KLS=${KLS:-4}
MODES=${MODES:-offline online}
POOL=${POOL:-4}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-50}
mkdir -p "$RUNS"
go build -o "$RUNS/rlhf" ./cmd/rlhf
BIN=$RUNS/rlhf
. experiments/overopt/lib.sh
for kl in $KLS; do
  for q in $QUERIES; do
    for s in $SEEDS; do
      for mode in $MODES; do
        name=$mode-q$q-kl$kl-s$s
        [ -f "$RUNS/$name/eval.json" ] && continue
        rm -rf "${RUNS:?}/$name"
        extra=(-rounds 1)
        [ "$mode" = online ] && extra=(-rounds "$ROUNDS")
        [ "$mode" = active ] && extra=(-rounds "$ROUNDS" -select margin -pool "$POOL")
        [ "$mode" = ensemble ] && extra=(-rounds "$ROUNDS" -select disagree -pool "$POOL" -members 3)
        [ "$mode" = warm ] && extra=(-rounds "$ROUNDS" -rm-warm)
        run "$name" "$BIN" demo -queries "$q" "${extra[@]}" -steps "$STEPS" -kl-target "$kl" -seed "$s" \
          -out "$RUNS/$name"
      done
    done
  done
done
wait
echo "all runs finished in $RUNS"
