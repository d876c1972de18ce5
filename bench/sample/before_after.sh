#!/usr/bin/env bash
# Times model/gpt's BenchmarkSample (tiny GPT, batch 64, 16-token prompts,
# 128 new tokens; top-k 50 and plain) at the parent of COMMIT ("old") and in
# this working tree ("new"), alternating builds, and prints tokens per
# CPU-second (less disturbed by a shared machine than wall clock). Then
# checks that both builds sample the same text: rlhf eval's 256 samples.
#
#   bench/sample/before_after.sh COMMIT [ROUNDS]     (default 2 rounds)
#
# OLD_FILES="path@rev ..." first puts those files, as they are at rev, into
# the old tree (e.g. a benchmark that COMMIT added).
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/sample/before_after.sh COMMIT [ROUNDS]}
rounds=${2:-2}
. bench/worktree.sh
for f in ${OLD_FILES:-}; do
	git show "${f#*@}:${f%@*}" >"$tmp/old/${f%@*}"
done
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./model/gpt && go build -o "$tmp/old-rlhf" ./cmd/rlhf)
go test -c -o "$tmp/new.test" ./model/gpt
go build -o "$tmp/new-rlhf" ./cmd/rlhf
for _ in $(seq "$rounds"); do
	for v in old new; do
		printf '%s ' "$v"
		"$tmp/$v.test" -test.run XXX -test.bench 'BenchmarkSample$' -test.benchtime 2x |
			awk '/^BenchmarkSample/ {printf "%s %s tokens/cpu-s  ", $1, $5} END {print ""}'
	done
done
for v in old new; do
	"$tmp/$v-rlhf" eval -policy models/tiny-gpt -ref models/tiny-gpt -prompts 256 -samples 256 -seed 3 2>/dev/null >"$tmp/$v.txt"
done
if cmp -s "$tmp/old.txt" "$tmp/new.txt"; then
	echo "samples: identical ($(wc -l <"$tmp/new.txt") lines of rlhf eval output)"
else
	echo "samples: DIFFERENT"
	exit 1
fi
