#!/usr/bin/env bash
# Runs the control grid of docs/results/control.md: for CartPole-v1, Pendulum-v1
# and Reacher2D-v0, PPO on the true reward and on rewards learned from 350, 700
# and 1400 synthetic (oracle) labels with random and active queries, seeds 1-3;
# then the hidden-goal task PendulumSpin-v0 and offline-vs-online labels.
# Runs go two at a time, one core each, ordered seed by seed so that a cut-short
# grid still covers every cell with fewer seeds.
#
#   experiments/control/grid.sh [RUNS_DIR]     (default /tmp/control-grid)
#
# Then: go run ./experiments/control/summarize -runs RUNS_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-/tmp/control-grid}
BIN=$RUNS/rlhf
mkdir -p "$RUNS"
# main.go's command table gets the control entry through an overlay if it lacks it.
if grep -q runControl cmd/rlhf/main.go; then
	go build -o "$BIN" ./cmd/rlhf
else
	sed 's|{"bench", "measure the engine on this machine (rlhf bench engine)", runBench},|&\n\t{"control", "learn a control task from preferences", runControl},|' cmd/rlhf/main.go >"$RUNS/main.go"
	printf '{"Replace":{"%s":"%s"}}\n' "$PWD/cmd/rlhf/main.go" "$RUNS/main.go" >"$RUNS/overlay.json"
	go build -overlay "$RUNS/overlay.json" -o "$BIN" ./cmd/rlhf
fi

steps_for() {
	case $1 in
	CartPole-v1) echo 100000 ;;
	Pendulum-v1) echo 150000 ;;
	Reacher2D-v0) echo 100000 ;;
	PendulumSpin-v0) echo 150000 ;;
	esac
}

jobs=$RUNS/jobs.txt
: >"$jobs"
for envname in CartPole-v1 Pendulum-v1 Reacher2D-v0; do
	steps=$(steps_for $envname)
	for seed in 1 2 3; do
		echo "$envname/true/s$seed -env $envname -reward true -steps $steps -seed $seed" >>"$jobs"
		for labels in 350 700 1400; do
			for q in random active; do
				echo "$envname/$q-$labels/s$seed -env $envname -reward learned -labels $labels -queries $q -steps $steps -seed $seed" >>"$jobs"
			done
		done
	done
done
for seed in 1 2 3; do
	echo "PendulumSpin-v0/active-700/s$seed -env PendulumSpin-v0 -reward learned -labels 700 -queries active -steps $(steps_for PendulumSpin-v0) -seed $seed" >>"$jobs"
done
for envname in CartPole-v1 Pendulum-v1; do
	for seed in 1 2 3; do
		echo "$envname/offline-random-700/s$seed -env $envname -reward learned -labels 700 -queries random -offline -steps $(steps_for $envname) -seed $seed" >>"$jobs"
	done
done

run_one() {
	local name=$1
	shift
	local dir=$RUNS/$name
	if [[ -f $dir/summary.json ]]; then return 0; fi
	rm -rf "$dir"
	mkdir -p "$(dirname "$dir")"
	local t0=$SECONDS
	if GOMAXPROCS=1 "$BIN" control -q -out "$dir" "$@" >"$dir.log" 2>&1; then
		echo "$(date -u +%T) done $name in $((SECONDS - t0)) s"
	else
		echo "$(date -u +%T) FAILED $name (see $dir.log)"
	fi
}
export -f run_one
export RUNS BIN
xargs -P 2 -L 1 bash -c 'run_one "$@"' _ <"$jobs"
echo "$(date -u +%T) grid finished"
