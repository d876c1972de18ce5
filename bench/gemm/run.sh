#!/usr/bin/env bash
# Benchmarks tensor.Gemm in the default build (our AVX2/FMA kernel) and in the
# -tags openblas build (cblas_sgemm) on the same machine in one run, runs
# interleaved so that background load hits both alike, and prints a markdown
# table of medians.
#
#   bench/gemm/run.sh                 # 5 rounds, 1s per benchmark
#   COUNT=9 BENCHTIME=2s bench/gemm/run.sh > docs/results/gemm.txt
#   THREADS=1 bench/gemm/run.sh       # one core each (GOMAXPROCS=1, OPENBLAS_NUM_THREADS=1)
#
# Needs libopenblas-dev (apt-get install -y libopenblas-dev) and cgo for the
# OpenBLAS column; without them only our column is filled. PEAK is the fp32
# peak in GFLOP/s used for "share of peak"; by default THREADS times what the
# best micro-kernel alone reaches on one core, measured in the same run (the
# nominal 2 cores × 2.45 GHz × 2 FMA units × 8 lanes × 2 flops = 156.8 is
# below what this machine's cores actually reach).
set -euo pipefail

cd "$(dirname "$0")/../.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-1s}
FILTER=${FILTER:-'BenchmarkGemm$'}
THREADS=${THREADS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go test -c -o "$tmp/ours.test" ./tensor
have_blas=0
if CGO_ENABLED=1 go test -c -tags openblas -o "$tmp/blas.test" ./tensor 2>"$tmp/blas.err"; then
	have_blas=1
else
	echo "note: -tags openblas build failed, OpenBLAS column left empty:" >&2
	cat "$tmp/blas.err" >&2
fi

run() { # run BINARY OUTFILE [FLAGS]
	GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS "$1" -test.run '^$' -test.bench "$FILTER" -test.benchtime "$BENCHTIME" -test.count 1 "${@:3}" >>"$2"
}
for i in $(seq "$COUNT"); do
	echo "round $i/$COUNT" >&2
	run "$tmp/ours.test" "$tmp/ours.txt"
	run "$tmp/ours.test" "$tmp/avx2.txt" -gemm.kernel=avx2-fma
	if [ "$have_blas" = 1 ]; then
		run "$tmp/blas.test" "$tmp/blas.txt"
	fi
done
touch "$tmp/blas.txt" "$tmp/avx2.txt"

# Print "name median min max" of metric $2 per benchmark, in first-seen order.
medians() {
	awk -v metric="$2" '$0 ~ metric {
		name = $1; sub(/^BenchmarkGemm[A-Za-z]*\//, "", name); sub(/-[0-9]+$/, "", name)
		v = ""
		for (i = 2; i <= NF; i++) if ($i == metric) v = $(i-1)
		if (v == "") next
		if (!(name in cnt)) order[++n] = name
		vals[name, ++cnt[name]] = v
	}
	END {
		for (o = 1; o <= n; o++) {
			name = order[o]; c = cnt[name]
			for (i = 1; i <= c; i++) a[i] = vals[name, i] + 0
			for (i = 2; i <= c; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] > x) { a[j+1] = a[j]; j-- }; a[j+1] = x }
			med = (c % 2) ? a[(c+1)/2] : (a[c/2] + a[c/2+1]) / 2
			printf "%s %.2f %.2f %.2f\n", name, med, a[1], a[c]
		}
	}' "$1"
}
medians "$tmp/ours.txt" GFLOP/s >"$tmp/ours.med"
medians "$tmp/blas.txt" GFLOP/s >"$tmp/blas.med"
medians "$tmp/avx2.txt" GFLOP/s >"$tmp/avx2.med"
medians "$tmp/ours.txt" GFLOP/cpu-s >"$tmp/ours.cpu"
medians "$tmp/avx2.txt" GFLOP/cpu-s >"$tmp/avx2.cpu"
medians "$tmp/blas.txt" GFLOP/cpu-s >"$tmp/blas.cpu"

# The ceiling: each micro-kernel alone on L1-resident panels, one core, best
# of 5 in GFLOP per CPU-second; the peak is twice the best of them.
backend=$("$tmp/ours.test" -test.run 'TestGemmBackend$' -test.v | sed -n 's/.*GemmBackend() = //p' | head -1)
"$tmp/ours.test" -test.run '^$' -test.bench 'BenchmarkGemmKernel' -test.benchtime 300ms -test.count 5 >"$tmp/kern.txt" || true
kernels=$(awk '/GFLOP\/cpu-s/ {
	name = $1; sub(/^BenchmarkGemmKernel\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 2; i <= NF; i++) if ($i == "GFLOP/cpu-s" && $(i-1) > best[name]) best[name] = $(i-1)
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
}
END { for (o = 1; o <= n; o++) printf "%s%s %.1f", (o > 1 ? ", " : ""), order[o], best[order[o]] }' "$tmp/kern.txt")
kern=$(awk '{for (i = 2; i <= NF; i++) if ($i == "GFLOP/cpu-s" && $(i-1) > m) m = $(i-1)} END {printf "%.1f", m}' "$tmp/kern.txt")
PEAK=${PEAK:-$(awk -v k="$kern" -v t="$THREADS" 'BEGIN {printf "%.1f", t * k}')}

echo "# tensor.Gemm, GFLOP/s (median of $COUNT runs, -benchtime $BENCHTIME; min-max in brackets)"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $THREADS of $(nproc) cores (GOMAXPROCS and OPENBLAS_NUM_THREADS), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- ours: default build (GemmBackend() = $backend); openblas: -tags openblas (libopenblas $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?'))"
echo "- micro-kernels alone, one core, L1-resident, GFLOP per CPU-second (best of 5): $kernels; share of peak is against PEAK=$PEAK GFLOP/s ($THREADS cores at the best kernel's rate)"
echo "- GFLOP/cpu-s: flops per CPU-second of the benchmark process (all threads), which time spent descheduled by other jobs does not dilute; OpenBLAS threads spin while waiting, which inflates its CPU time"
echo "- command: THREADS=$THREADS COUNT=$COUNT BENCHTIME=$BENCHTIME bench/gemm/run.sh"
echo
echo "## Wall clock"
echo
echo "| shape (square: n; else m x n x k) | ours GFLOP/s | share of peak | ours, AVX2 kernel forced | openblas GFLOP/s | ours / openblas |"
echo "|---|---|---|---|---|---|"
awk -v peak="$PEAK" '
FILENAME ~ /blas.med$/ { bm[$1] = $2; bl[$1] = $3; bh[$1] = $4; next }
FILENAME ~ /avx2.med$/ { am[$1] = $2; al[$1] = $3; ah[$1] = $4; next }
{
	name = $1; ours = $2
	blas = "-"; ratio = "-"; avx2 = "-"
	if (name in bm) { blas = sprintf("%.1f [%.1f-%.1f]", bm[name], bl[name], bh[name]); ratio = sprintf("%.2f", ours / bm[name]) }
	if (name in am) avx2 = sprintf("%.1f [%.1f-%.1f]", am[name], al[name], ah[name])
	printf "| %s | %.1f [%.1f-%.1f] | %.0f%% | %s | %s | %s |\n", name, ours, $3, $4, 100 * ours / peak, avx2, blas, ratio
}' "$tmp/blas.med" "$tmp/avx2.med" "$tmp/ours.med"
echo
echo "## Per CPU-second (median GFLOP/cpu-s)"
echo
echo "| shape | ours | ours, AVX2 kernel forced | openblas | ours / openblas | AVX2 / openblas |"
echo "|---|---|---|---|---|---|"
awk '
FILENAME ~ /avx2.cpu$/ { a[$1] = $2; next }
FILENAME ~ /blas.cpu$/ { o[$1] = $2; next }
{
	name = $1; ours = $2
	av = "-"; bl = "-"; r1 = "-"; r2 = "-"
	if (name in a) av = sprintf("%.1f", a[name])
	if (name in o) { bl = sprintf("%.1f", o[name]); r1 = sprintf("%.2f", ours / o[name]); if (name in a) r2 = sprintf("%.2f", a[name] / o[name]) }
	printf "| %s | %.1f | %s | %s | %s | %s |\n", name, ours, av, bl, r1, r2
}' "$tmp/avx2.cpu" "$tmp/blas.cpu" "$tmp/ours.cpu"
