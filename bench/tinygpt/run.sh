#!/bin/sh
# Times training steps of the reference tiny GPT-2 (d=128, 4 layers, 4 heads,
# T=128, vocab 4096, batch 16, AdamW) in rlhf's Go engine and in PyTorch
# (2 threads), interleaved ROUNDS times, and prints tokens/s and peak RSS of
# each run. Usage: bench/tinygpt/run.sh [ROUNDS] [STEPS]
set -eu
cd "$(dirname "$0")"
rounds=${1:-2}
steps=${2:-20}
bin=$(mktemp -d)/tinygpt
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
peak() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$1" | awk '{printf "%.0f MB", $1/1024}'; }
log=$(dirname "$bin")/time.log
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "go: $(go version | cut -d' ' -f3)  python: $(/usr/bin/python3 --version 2>&1)"
i=1
while [ "$i" -le "$rounds" ]; do
	line=$(/usr/bin/time -v -o "$log" "$bin" -steps "$steps")
	echo "$line  peak RSS $(peak "$log")"
	line=$(/usr/bin/time -v -o "$log" /usr/bin/python3 pytorch_tiny_gpt.py --steps "$steps" --threads 2)
	echo "$line  peak RSS $(peak "$log")"
	i=$((i + 1))
done
