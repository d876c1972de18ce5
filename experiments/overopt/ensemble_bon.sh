#!/usr/bin/env bash
# Best-of-n against the ensembles of ensemble.sh (which must have run: its members are reused):
# each seed's three reward models (goldrm.sh's proxy and ensemble.sh's two seed-only members)
# rank the same kind of samples as goldrm.sh's best-of-n (n = 1..256 on $PROMPTS validation
# prompts, seed 1), combined per completion by $MODES, scored by the gold model.
#
#   experiments/overopt/ensemble_bon.sh        # finished tables are skipped
#   go run ./experiments/overopt -runs runs/overopt-ens -out docs/results/overopt-ens -gold "gold RM"
#
# Tables go to $RUNS (default runs/overopt-ens): bon-<mode>-N-sS.txt, beside links to goldrm.sh's
# single-proxy tables bon-N-sS.txt and bon-gold.txt, so that the summary puts them side by side.
# With BOOT=1 the members are ensemble.sh's bootstrap members (BOOT=1 ensemble.sh must have run),
# the tables bon-<mode>boot-N-sS.txt in $RUNS (default runs/overopt-ensboot):
#   BOOT=1 experiments/overopt/ensemble_bon.sh
#   go run ./experiments/overopt -runs runs/overopt-ensboot -out docs/results/overopt-ensboot -gold "gold RM"
set -euo pipefail
cd "$(dirname "$0")/../.."
GOLDRM=${GOLDRM:-runs/overopt-goldrm}
BOOT=${BOOT:-0}
if [ "$BOOT" = 1 ]; then
  RUNS=${RUNS:-runs/overopt-ensboot}
  suffix=boot
else
  RUNS=${RUNS:-runs/overopt-ens}
  suffix=
fi
GOLD=${GOLD:-runs/demo-5k-seed1/rm}
SEEDS=${SEEDS:-1 2 3}
MODES=${MODES:-mean min uwo=1}
N=${N:-1000}
PROMPTS=${PROMPTS:-128}
NS=1,2,4,8,16,32,64,128,256
mkdir -p "$RUNS"
go build -o "$RUNS/rlhf" ./cmd/rlhf
BIN=$RUNS/rlhf
. experiments/overopt/lib.sh

ln -sfn "$(realpath "$GOLDRM/bon-gold.txt")" "$RUNS/bon-gold.txt"
for s in $SEEDS; do
  for f in "bon-$N-s$s.txt" "rm-$N-s$s/config.json"; do
    [ -f "$GOLDRM/$f" ] || { echo "ensemble_bon.sh: $GOLDRM/$f missing: run experiments/overopt/goldrm.sh first" >&2; exit 1; }
  done
  members=$(ens_members "$s")
  for m in ${members//,/ }; do
    [ -f "$m/summary.json" ] || { echo "ensemble_bon.sh: $m missing: run experiments/overopt/ensemble.sh (BOOT=$BOOT) first" >&2; exit 1; }
  done
  ln -sfn "$(realpath "$GOLDRM/bon-$N-s$s.txt")" "$RUNS/bon-$N-s$s.txt"
  for mode in $MODES; do
    name="bon-${mode//=/}$suffix-$N-s$s"
    grep -q '^| 256 |' "$RUNS/$name.txt" 2>/dev/null && continue
    run "$name" "$BIN" bon -policy models/tiny-gpt -reward "ens:$mode:$members" -goal "rm:$GOLD" -n "$NS" \
      -prompts "$PROMPTS" -seed 1 -split val
  done
done
wait
# The best-of-n tables are printed on stderr, so they are in the logs.
for s in $SEEDS; do
  for mode in $MODES; do
    name="bon-${mode//=/}$suffix-$N-s$s"
    [ -f "$RUNS/$name.log" ] && cp "$RUNS/$name.log" "$RUNS/$name.txt"
  done
done
echo "all best-of-n tables finished in $RUNS"
