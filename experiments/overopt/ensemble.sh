#!/usr/bin/env bash
# Do reward-model ensembles curb over-optimisation? (Coste et al. 2023.) In the gold-reward-model
# setup of goldrm.sh (which must have run: its labels, proxies and single-proxy PPO runs are
# reused), each seed's 1,000-label proxy gets two more members trained on the same comparisons
# with other seeds (head initialisation, the held-out tenth and the minibatch order differ), and
# PPO without a KL penalty optimises the three as one reward, combined per completion by $MODES:
# mean, min (worst-case optimisation) and uwo=λ (the mean minus λ times the members' variance).
# The gold model scores every step, as for the single proxies.
#
#   experiments/overopt/ensemble.sh        # finished runs are skipped
#   go run ./experiments/overopt -runs runs/overopt-ens -out docs/results/overopt-ens -gold "gold RM"
#
# Runs go to $RUNS (default runs/overopt-ens): rm-N-sS-mJ/ (members J = 2, 3),
# ppo-<mode>-N-sS-b0/, and a link ppo-N-sS-b0 to goldrm.sh's single-proxy run of the seed.
#
# With BOOT=1 the members see different labels: three members per seed, J = 1, 2, 3, each
# trained with rlhf rm -bootstrap (a resample with replacement of the training comparisons,
# after the held-out split) and seed S + 100 J, into rm-N-sS-bJ/; PPO runs are
# ppo-<mode>boot-N-sS-b0/; every member, and the seed-only members of $ENS (default
# runs/overopt-ens) where they exist, is scored on goldrm.sh's common held-out set
# (rmeval-N-bootJ-sS/, rmeval-N-seedJ-sS/; goldrm.sh's rmeval-N-sS/ is linked in).
#
#   BOOT=1 experiments/overopt/ensemble.sh            # 1,000-label members
#   BOOT=1 N=250 experiments/overopt/ensemble.sh
#   go run ./experiments/overopt -runs runs/overopt-ensboot -out docs/results/overopt-ensboot -gold "gold RM"
set -euo pipefail
cd "$(dirname "$0")/../.."
GOLDRM=${GOLDRM:-runs/overopt-goldrm}
BOOT=${BOOT:-0}
ENS=${ENS:-runs/overopt-ens}
if [ "$BOOT" = 1 ]; then
  RUNS=${RUNS:-runs/overopt-ensboot}
else
  RUNS=${RUNS:-runs/overopt-ens}
fi
GOLD=${GOLD:-runs/demo-5k-seed1/rm}
SEEDS=${SEEDS:-1 2 3}
MODES=${MODES:-mean min uwo=1}
N=${N:-1000}
STEPS=${STEPS:-120}
LR=${LR:-2e-5}
mkdir -p "$RUNS"
if [ -z "${BIN:-}" ]; then # BIN: a binary built beforehand, else built here
  go build -o "$RUNS/rlhf" ./cmd/rlhf
  BIN=$RUNS/rlhf
fi
. experiments/overopt/lib.sh

# member S J: train member J of seed S's ensemble (skipped if it finished).
member() {
  local s=$1 j=$2 name boot=()
  if [ "$BOOT" = 1 ]; then
    name=rm-$N-s$s-b$j
    boot=(-bootstrap)
  else
    name=rm-$N-s$s-m$j
  fi
  [ -f "$RUNS/$name/summary.json" ] && return 0
  run "$name" "$BIN" rm -data "$GOLDRM/comparisons-$N-s$s.jsonl" -init models/tiny-gpt \
    -out "$RUNS/$name" -epochs 2 -lr 3e-4 -batch 16 -wd 0.01 -val-frac 0.1 -seed $((s + 100 * j)) -gold "rm:$GOLD" "${boot[@]}"
}

# rmeval NAME DIR: score the reward model in DIR on goldrm.sh's common held-out set.
rmeval() {
  [ -f "$RUNS/rmeval-$1/summary.json" ] && return 0
  run "rmeval-$1" "$BIN" rm -data "$GOLDRM/heldout.jsonl" -init "$2" \
    -out "$RUNS/rmeval-$1" -epochs 0 -normalise none -val-frac 0.99 -seed 1
}

for s in $SEEDS; do
  for f in "comparisons-$N-s$s.jsonl" "rm-$N-s$s/config.json" "ppo-$N-s$s-b0/metrics.jsonl"; do
    [ -f "$GOLDRM/$f" ] || { echo "ensemble.sh: $GOLDRM/$f missing: run experiments/overopt/goldrm.sh first" >&2; exit 1; }
  done
  ln -sfn "$(realpath "$GOLDRM/ppo-$N-s$s-b0")" "$RUNS/ppo-$N-s$s-b0"
  if [ "$BOOT" = 1 ]; then
    for j in 1 2 3; do member "$s" "$j"; done
  else
    for j in 2 3; do member "$s" "$j"; done
  fi
done
wait
if [ "$BOOT" = 1 ]; then
  for s in $SEEDS; do
    [ -d "$GOLDRM/rmeval-$N-s$s" ] && ln -sfn "$(realpath "$GOLDRM/rmeval-$N-s$s")" "$RUNS/rmeval-$N-s$s"
    for j in 1 2 3; do rmeval "$N-boot$j-s$s" "$RUNS/rm-$N-s$s-b$j"; done
    for j in 2 3; do
      [ -f "$ENS/rm-$N-s$s-m$j/summary.json" ] && rmeval "$N-seed$j-s$s" "$ENS/rm-$N-s$s-m$j"
    done
  done
  wait
fi
for s in $SEEDS; do
  members=$(ens_members "$s")
  suffix=
  [ "$BOOT" = 1 ] && suffix=boot
  for mode in $MODES; do
    ppo_gold "ppo-${mode//=/}$suffix-$N-s$s-b0" "ens:$mode:$members" "$s"
  done
done
wait
echo "all runs finished in $RUNS"
