#!/usr/bin/env bash
# Times training steps of the reference tiny GPT (bench/tinygpt: d=128, 4 layers, T=128,
# batch 16) built at the parent of COMMIT ("old") and in this working tree ("new"),
# alternating, ROUNDS times each; prints each run's line and the median tokens/s of each.
#
#   bench/crew/tinygpt.sh COMMIT [ROUNDS] [STEPS]     (default 5 rounds of 20 steps)
set -euo pipefail
cd "$(dirname "$0")/../.."
commit=${1:?usage: bench/crew/tinygpt.sh COMMIT [ROUNDS] [STEPS]}
rounds=${2:-5}
steps=${3:-20}
. bench/worktree.sh
(cd "$tmp/old" && go build -o "$tmp/old-tinygpt" ./bench/tinygpt)
go build -o "$tmp/new-tinygpt" ./bench/tinygpt
for _ in $(seq "$rounds"); do
	for v in old new; do
		echo "$v $("$tmp/$v-tinygpt" -steps "$steps")" | tee -a "$tmp/lines"
	done
done
awk '{for (i = 1; i <= NF; i++) if ($i == "tokens/s") tok[$1] = tok[$1] " " $(i - 1)}
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END { printf "median tokens/s: old %.0f new %.0f (new/old %.3f)\n", median(tok["old"]), median(tok["new"]), median(tok["new"]) / median(tok["old"]) }' "$tmp/lines"
