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
# Runs go to $RUNS (default runs/overopt-ens): rm-1000-sS-mJ/ (members J = 2, 3),
# ppo-<mode>-1000-sS-b0/, and a link ppo-1000-sS-b0 to goldrm.sh's single-proxy run of the seed.
set -euo pipefail
cd "$(dirname "$0")/../.."
GOLDRM=${GOLDRM:-runs/overopt-goldrm}
RUNS=${RUNS:-runs/overopt-ens}
GOLD=${GOLD:-runs/demo-5k-seed1/rm}
SEEDS=${SEEDS:-1 2 3}
MODES=${MODES:-mean min uwo=1}
N=${N:-1000}
STEPS=${STEPS:-120}
LR=${LR:-2e-5}
mkdir -p "$RUNS"
go build -o "$RUNS/rlhf" ./cmd/rlhf
BIN=$RUNS/rlhf
. experiments/overopt/lib.sh

for s in $SEEDS; do
  for f in "comparisons-$N-s$s.jsonl" "rm-$N-s$s/config.json" "ppo-$N-s$s-b0/metrics.jsonl"; do
    [ -f "$GOLDRM/$f" ] || { echo "ensemble.sh: $GOLDRM/$f missing: run experiments/overopt/goldrm.sh first" >&2; exit 1; }
  done
  ln -sfn "$(realpath "$GOLDRM/ppo-$N-s$s-b0")" "$RUNS/ppo-$N-s$s-b0"
  for j in 2 3; do
    [ -f "$RUNS/rm-$N-s$s-m$j/summary.json" ] && continue
    run "rm-$N-s$s-m$j" "$BIN" rm -data "$GOLDRM/comparisons-$N-s$s.jsonl" -init models/tiny-gpt \
      -out "$RUNS/rm-$N-s$s-m$j" -epochs 2 -lr 3e-4 -batch 16 -wd 0.01 -val-frac 0.1 -seed $((s + 100 * j)) -gold "rm:$GOLD"
  done
done
wait
for s in $SEEDS; do
  members="$GOLDRM/rm-$N-s$s,$RUNS/rm-$N-s$s-m2,$RUNS/rm-$N-s$s-m3"
  for mode in $MODES; do
    ppo_gold "ppo-${mode//=/}-$N-s$s-b0" "ens:$mode:$members" "$s"
  done
done
wait
echo "all runs finished in $RUNS"
