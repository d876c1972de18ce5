#!/usr/bin/env bash
# Times `rlhf rm` (a GPT reward model, two epochs over 1,200 sampled and
# labelled comparisons: batches whose padded length changes from step to
# step) built at the parent of COMMIT ("old") and in this working tree
# ("new"), alternating, ROUNDS times each, with /usr/bin/time; prints each
# run's wall and CPU seconds and peak memory, then the median new/old
# ratios, and checks that both builds saved the same reward model, byte for
# byte.
#
#   bench/pool/rm.sh COMMIT [ROUNDS]     (default 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/pool/rm.sh COMMIT [ROUNDS]}
rounds=${2:-5}
. bench/worktree.sh
(cd "$tmp/old" && go build -o "$tmp/old-rlhf" ./cmd/rlhf)
go build -o "$tmp/new-rlhf" ./cmd/rlhf
"$tmp/new-rlhf" prefs -n 1200 -seed 1 -out "$tmp/prefs.jsonl" 2>/dev/null
for _ in $(seq "$rounds"); do
	for v in old new; do
		/usr/bin/time -f "$v %e %U %S %M" -o "$tmp/t" "$tmp/$v-rlhf" rm -data "$tmp/prefs.jsonl" -epochs 2 -out "$tmp/rm-$v" >/dev/null 2>&1
		cat "$tmp/t" | tee -a "$tmp/times"
	done
done
awk '{wall[$1]=wall[$1] " " $2; cpu[$1]=cpu[$1] " " ($3+$4); mem[$1]=mem[$1] " " $5}
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
	printf "median wall s: old %.2f new %.2f (new/old %.3f)\n", median(wall["old"]), median(wall["new"]), median(wall["new"]) / median(wall["old"])
	printf "median cpu s:  old %.2f new %.2f (new/old %.3f)\n", median(cpu["old"]), median(cpu["new"]), median(cpu["new"]) / median(cpu["old"])
	printf "median peak KiB: old %d new %d (new/old %.3f)\n", median(mem["old"]), median(mem["new"]), median(mem["new"]) / median(mem["old"])
}' "$tmp/times"
if cmp -s "$tmp/rm-old/model.safetensors" "$tmp/rm-new/model.safetensors"; then
	echo "reward models: identical"
else
	echo "reward models: DIFFERENT"
	exit 1
fi
