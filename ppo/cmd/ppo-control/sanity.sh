#!/usr/bin/env bash
# The PPO sanity experiment of docs/results/ppo-control.md: CartPole-v1 and
# Pendulum-v1 on their true rewards, 3 seeds each, one seed at a time.
# Run directories go to $OUT (default runs/ppo-control/); summaries and learning curves are
# copied to docs/results/ppo-control/.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-runs/ppo-control}
docs=docs/results/ppo-control
mkdir -p "$docs"
go build -o "$out/ppo-control" ./ppo/cmd/ppo-control

run() { # name, flags...
	local name=$1
	shift
	"$out/ppo-control" -q -seeds 1,2,3 -out "$out/$name" "$@"
	cp "$out/$name/summary.md" "$docs/$name.md"
	cp "$out/$name/return.svg" "$docs/$name.svg"
}

# cleanrl ppo.py defaults (lr 2.5e-4, 4 envs x 128 steps), 500k steps.
run cartpole-cleanrl -env CartPole-v1 -steps 500000 -threshold 475 -eval-episodes 20
# the same with lr 1e-3, 200k steps.
run cartpole-lr1e-3 -env CartPole-v1 -steps 200000 -lr 1e-3 -threshold 475 -eval-episodes 20
# cleanrl ppo_continuous_action.py defaults, 1M steps (the published budget).
run pendulum-1m -env Pendulum-v1 -steps 1000000 -threshold -200 -eval-episodes 100
# the largest budget that fits about 5 minutes per seed on the shared 2-core machine.
run pendulum-2m -env Pendulum-v1 -steps 2000000 -threshold -200 -eval-episodes 100
