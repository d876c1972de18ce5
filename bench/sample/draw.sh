#!/usr/bin/env bash
# Times model/gpt's BenchmarkSample (tiny GPT, batch 64, 16-token prompts,
# 128 new tokens; top-k 50 and plain) with the token draw before and after
# commit 69a77f4 (one-pass top-k heap, each exp once), alternating builds,
# and prints tokens per CPU-second (less disturbed by a shared machine than
# wall clock). The old build gets the benchmark file of 69a77f4, which
# added the plain sub-benchmark.
#
#   bench/sample/draw.sh [ROUNDS]     (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q "$tmp/old" 69a77f4~1
git show 69a77f4:model/gpt/gpt_test.go >"$tmp/old/model/gpt/gpt_test.go"
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./model/gpt)
go test -c -o "$tmp/new.test" ./model/gpt
for _ in $(seq "$rounds"); do
	for v in old new; do
		printf '%s ' "$v"
		"$tmp/$v.test" -test.run XXX -test.bench 'BenchmarkSample$' -test.benchtime 2x |
			awk '/^BenchmarkSample/ {printf "%s %s tokens/cpu-s  ", $1, $5} END {print ""}'
	done
done
