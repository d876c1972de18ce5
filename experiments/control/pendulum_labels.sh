#!/usr/bin/env bash
# Why 1400 labels did worse than 700 on Pendulum-v1 at 100k steps
# (docs/results/control.md): random queries, seeds 1-3, the 700- and
# 1400-label defaults and single-factor changes of the 1400-label run:
#   retrain70  -retrain-every 70        (retrain as often as at 700 labels)
#   rm0.5      -rm-steps-per-label 0.5  (as many reward-model steps as at 700)
#   init175    -initial-fraction 0.125  (175 initial labels, as at 700)
# Runs go two at a time, one core each (GOMAXPROCS=1); finished runs are
# skipped. EXTRA='NAME|FLAGS' adds a cell NAME run with FLAGS (which must
# include -labels), e.g. EXTRA='random-700-retrain35|-labels 700 -retrain-every 35';
# SEEDS='4 5 6' runs other seeds; ONLY=REGEX keeps the cells whose run
# name (Pendulum-v1/<cell>/s<seed>) matches.
#
#   experiments/control/pendulum_labels.sh [RUNS_DIR]   (default /tmp/pendulum-labels)
#
# At the end it prints, for each cell, the final return (mean ± population
# std over the seeds that finished) and the per-seed values; TABLE=1 prints
# only that, from the runs already in RUNS_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-/tmp/pendulum-labels}
PARALLEL=${PARALLEL:-2}
BIN=$RUNS/rlhf
mkdir -p "$RUNS"

table() {
	local d
	for d in "$RUNS"/Pendulum-v1/*/; do
		# shellcheck disable=SC2012
		ls "$d"/s*/summary.json >/dev/null 2>&1 || continue
		jq -s --arg cell "$(basename "$d")" -r '
			sort_by(.seed) | (map(.final_return) | add / length) as $m
			| (map((.final_return - $m) * (.final_return - $m)) | add / length | sqrt) as $s
			| "\($cell)\t\(length) seeds\t\($m * 10 | round / 10) ± \($s * 10 | round / 10)\t"
			  + (map("s\(.seed) \(.final_return | round)") | join(", "))' "$d"/s*/summary.json
	done
}
if [[ -n ${TABLE:-} ]]; then
	table
	exit 0
fi
if [[ -n ${RLHF_BIN:-} ]]; then
	cp -f "$RLHF_BIN" "$BIN"
else
	go build -o "$BIN.new" ./cmd/rlhf && mv -f "$BIN.new" "$BIN"
fi

base="-env Pendulum-v1 -steps 100000 -reward learned -queries random"
cells=(
	"random-700|-labels 700"
	"random-1400|-labels 1400"
	"random-1400-retrain70|-labels 1400 -retrain-every 70"
	"random-1400-rm0.5|-labels 1400 -rm-steps-per-label 0.5"
	"random-1400-init175|-labels 1400 -initial-fraction 0.125"
)
if [[ -n ${EXTRA:-} ]]; then
	cells+=("$EXTRA")
fi
jobs=$RUNS/jobs.txt
: >"$jobs"
for seed in ${SEEDS:-1 2 3}; do
	for cell in "${cells[@]}"; do
		name=Pendulum-v1/${cell%%|*}/s$seed
		if [[ -n ${ONLY:-} && ! $name =~ $ONLY ]]; then continue; fi
		echo "$name $base ${cell#*|} -seed $seed" >>"$jobs"
	done
done

run_one() {
	local name=$1
	shift
	local dir=$RUNS/$name
	if [[ -s $dir/summary.json ]]; then
		echo "skip $name (done)"
		return
	fi
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	echo "start $name"
	GOMAXPROCS=1 "$BIN" control "$@" -out "$dir" -q >"$dir.log" 2>&1 || {
		echo "FAILED $name (see $dir.log)"
		return 1
	}
	echo "done $name: $(grep -m1 'final' "$dir.log")"
}
export -f run_one
export RUNS BIN
# shellcheck disable=SC2016
xargs -P "$PARALLEL" -L 1 bash -c 'run_one "$@"' _ <"$jobs"
table
