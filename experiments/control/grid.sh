#!/usr/bin/env bash
# Runs the control grid of docs/results/control.md: for CartPole-v1, Pendulum-v1
# and Reacher2D-v0, PPO on the true reward and on rewards learned from 350, 700
# and 1400 synthetic (oracle) labels with random and active queries, seeds 1-3;
# CartPole and CartPoleLeft for 500k environment steps (cleanrl's budget, at
# which true-reward PPO reaches the 500 cap), the others for 100k (STEPS=N
# sets one budget for every task, e.g. the 1M-step Pendulum cells);
# then the hidden-goal tasks PendulumSpin-v0 and CartPoleLeft-v0 and
# offline-vs-online labels.
# Runs go two at a time (PARALLEL), one core each, in order of priority (below);
# a run interrupted by a signal is resumed from its checkpoint when the script
# is started again, and finished runs are skipped.
#
#   experiments/control/grid.sh [RUNS_DIR]     (default /tmp/control-grid)
#   ONLY='^CartPole-v1/random-700/' experiments/control/grid.sh RUNS_DIR   (a subset)
#
# Then: go run ./experiments/control/summarize -runs RUNS_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-/tmp/control-grid}
PARALLEL=${PARALLEL:-2}
BIN=$RUNS/rlhf
mkdir -p "$RUNS"
# RLHF_BIN=path uses an already built binary instead of building one.
if [[ -n ${RLHF_BIN:-} ]]; then
	cp -f "$RLHF_BIN" "$BIN"
else
	go build -o "$BIN.new" ./cmd/rlhf && mv -f "$BIN.new" "$BIN"
fi

steps_for() {
	if [[ -n ${STEPS:-} ]]; then
		echo "$STEPS"
		return
	fi
	case $1 in
	CartPole-v1 | CartPoleLeft-v0) echo 500000 ;;
	Pendulum-v1 | PendulumSpin-v0) echo 100000 ;;
	Reacher2D-v0) echo 100000 ;;
	esac
}

# job NAME ARGS...: one line of the job list; NAME is <env>/<condition>/s<seed>.
job() {
	local envname=$1 cond=$2 seed=$3
	local args="-env $envname -steps $(steps_for "$envname") -seed $seed"
	case $cond in
	true) args="$args -reward true" ;;
	offline-random-*) args="$args -reward learned -labels ${cond##*-} -queries random -offline" ;;
	*) args="$args -reward learned -labels ${cond##*-} -queries ${cond%-*}" ;;
	esac
	echo "$envname/$cond/s$seed $args"
}

# Jobs in order of priority, so that a grid cut short by the clock has the
# most important cells: CartPole with 350 and 700 labels, the 700-label cells
# and true reward of Pendulum, the hidden-goal task, the same cells of
# Reacher, offline labels on CartPole, CartPole's 1400-label cells, then the
# 350- and 1400-label cells and offline labels of Pendulum, and last Reacher's.
jobs=$RUNS/jobs.txt
{
	job CartPole-v1 random-1400 1
	job CartPole-v1 active-1400 1
	for seed in 1 2 3; do
		for cond in true random-350 active-350 random-700 active-700; do
			job CartPole-v1 $cond $seed
		done
	done
	for seed in 1 2 3; do
		for cond in true random-700 active-700; do
			job Pendulum-v1 $cond $seed
		done
	done
	for seed in 1 2 3; do job PendulumSpin-v0 active-700 $seed; done
	for seed in 1 2 3; do
		for cond in true random-700 active-700; do
			job Reacher2D-v0 $cond $seed
		done
	done
	for seed in 1 2 3; do job CartPole-v1 offline-random-700 $seed; done
	for seed in 2 3; do
		for cond in random-1400 active-1400; do
			job CartPole-v1 $cond $seed
		done
	done
	for envname in Pendulum-v1 Reacher2D-v0; do
		for seed in 1 2 3; do
			for cond in random-350 active-350 random-1400 active-1400; do
				job $envname $cond $seed
			done
		done
		if [[ $envname == Pendulum-v1 ]]; then
			for seed in 1 2 3; do job Pendulum-v1 offline-random-700 $seed; done
		fi
	done
	for seed in 1 2 3; do job CartPoleLeft-v0 active-700 $seed; done
} >"$jobs"
# ONLY (an extended regular expression) keeps the matching job names only,
# e.g. ONLY='^Reacher2D-v0/(true|random-700|active-700)/' to rerun a few cells.
if [[ -n ${ONLY:-} ]]; then
	grep -E "$ONLY" "$jobs" >"$jobs.only" || true
	mv -f "$jobs.only" "$jobs"
fi

run_one() {
	local name=$1
	shift
	local dir=$RUNS/$name
	if [[ -f $dir/summary.json ]]; then return 0; fi
	local how=("$@")
	if [[ -f $dir/state.json ]]; then
		how=(-resume) # a run stopped by a signal continues from its checkpoint
	else
		rm -rf "$dir"
	fi
	mkdir -p "$(dirname "$dir")"
	local t0=$SECONDS
	if GOMAXPROCS=1 "$BIN" control -q -out "$dir" "${how[@]}" >>"$dir.log" 2>&1; then
		echo "$(date -u +%T) done $name in $((SECONDS - t0)) s"
	else
		echo "$(date -u +%T) FAILED $name (see $dir.log)"
	fi
}
export -f run_one
export RUNS BIN
xargs -P "$PARALLEL" -L 1 bash -c 'run_one "$@"' _ <"$jobs"
echo "$(date -u +%T) grid finished"
