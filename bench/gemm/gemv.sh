#!/usr/bin/env bash
# Benchmarks tensor.Gemm on matrix-vector shapes (m = 1 to 4: a decoding
# step of the tiny GPT and of GPT-2 small) through the GEMV path ("new")
# and with it turned off ("old": the direct or packed GEMM), alternating
# calls within one benchmark (BenchmarkGemv), and prints a markdown table of
# medians: one core, two cores, and on one core the AVX2 kernels (where the
# CPU has AVX-512) and the portable Go kernels.
#
#   bench/gemm/gemv.sh                       # 3 rounds, 1s per benchmark
#   COUNT=5 bench/gemm/gemv.sh > bench/gemm/gemv.md
set -euo pipefail

cd "$(dirname "$0")/../.."
COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -c -o "$tmp/tensor.test" ./tensor
bench() { # bench OUTFILE GOMAXPROCS [FLAGS]
	GOMAXPROCS=$2 "$tmp/tensor.test" -test.run '^$' -test.bench 'BenchmarkGemv$' -test.benchtime "$BENCHTIME" -test.count "$COUNT" "${@:3}" >"$1"
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "one core" >&2
bench "$tmp/c1.txt" 1
echo "two cores" >&2
bench "$tmp/c2.txt" 2
echo "AVX2 kernels" >&2
bench "$tmp/avx2.txt" 1 -gemm.kernel=avx2-fma
echo "Go kernels" >&2
bench "$tmp/go.txt" 1 -gemm.kernel=go
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# "name old new ratio" medians per shape, in first-seen order.
medians() {
	awk '/^BenchmarkGemv\// {
		name = $1; sub(/^BenchmarkGemv\//, "", name); sub(/-[0-9]+$/, "", name)
		for (i = 2; i < NF; i++) {
			if ($(i+1) == "old-GFLOP/s") o = $i
			if ($(i+1) == "new-GFLOP/s") w = $i
			if ($(i+1) == "new/old-speedup") r = $i
		}
		if (!(name in cnt)) order[++n] = name
		c = ++cnt[name]; ov[name, c] = o; nv[name, c] = w; rv[name, c] = r
	}
	function med(arr, name, c,   i, j, a, x) {
		for (i = 1; i <= c; i++) a[i] = arr[name, i] + 0
		for (i = 2; i <= c; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] > x) { a[j+1] = a[j]; j-- }; a[j+1] = x }
		return (c % 2) ? a[(c+1)/2] : (a[c/2] + a[c/2+1]) / 2
	}
	END { for (o = 1; o <= n; o++) { name = order[o]; c = cnt[name]; printf "%s %.1f %.1f %.2f\n", name, med(ov, name, c), med(nv, name, c), med(rv, name, c) } }' "$1"
}
medians "$tmp/c1.txt" >"$tmp/c1.med"
medians "$tmp/c2.txt" >"$tmp/c2.med"
medians "$tmp/go.txt" >"$tmp/go.med"
touch "$tmp/avx2.txt"
medians "$tmp/avx2.txt" >"$tmp/avx2.med"

echo "# tensor.Gemm on matrix-vector shapes: GEMV path (new) against the GEMM path (old)"
echo
backend=$("$tmp/tensor.test" -test.run 'TestGemmBackend$' -test.v | sed -n 's/.*GemmBackend() = //p' | head -1)
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores, load average $load0 at start, $load1 at end (the machine is shared)"
echo "- GemmBackend() = $backend: the GEMM kernel of the old path and the GEMV kernels' level (GEMV has AVX2/FMA and, where AVX-512 runs, AVX-512 kernels);"
echo "  AVX2 and Go columns: -gemm.kernel=avx2-fma or go, which sets both paths' kernels"
echo "- command: COUNT=$COUNT BENCHTIME=$BENCHTIME bench/gemm/gemv.sh (BenchmarkGemv in tensor/gemv_bench_test.go)"
echo "- each benchmark alternates one old and one new call and times each call; GFLOP/s are from the median call"
echo "  of each path; new/old is the speedup, median old call time over median new call time; the table gives the median over $COUNT runs"
echo "- old: the GEMV path off (gemvMaxM = 0), so Gemm takes the small, direct or packed path it took before;"
echo "  new: the GEMV path forced, also where Gemm's automatic choice would not take it (m > 1 with a small or transposed B)"
echo "- shapes m x n x k: one decoding step's products, (m, k)·(k, n) for a Linear weight, NT = times a tied LM head's"
echo "  (vocab, C) embedding transposed; tiny = models/tiny-gpt (C 128, vocab 4096), gpt2 = GPT-2 small (C 768, vocab 50257);"
echo "  vh_1x1x128 (a value head) takes well under a microsecond, so the timer's overhead dominates its figures"
echo
echo "| shape | 1 core old | 1 core new | new/old | 2 cores old | 2 cores new | new/old | AVX2 old | AVX2 new | new/old | Go old | Go new | new/old |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk '
FILENAME ~ /c2.med$/ { c2[$1] = $2 " | " $3 " | " $4; next }
FILENAME ~ /avx2.med$/ { av[$1] = $2 " | " $3 " | " $4; next }
FILENAME ~ /go.med$/ { g[$1] = $2 " | " $3 " | " $4; next }
{
	a = ($1 in av) ? av[$1] : "- | - | -"
	printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, c2[$1], a, g[$1]
}' "$tmp/c2.med" "$tmp/avx2.med" "$tmp/go.med" "$tmp/c1.med"
