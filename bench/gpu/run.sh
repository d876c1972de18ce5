#!/usr/bin/env bash
# GPU benchmark of the GoMLX/XLA backend against PyTorch on the same card.
#
# Needs: the binaries from bench/gpu/build.sh in bench/gpu/bin (built on any
# Linux amd64 machine with Go and gcc; no Go needed here), python3 with
# PyTorch >= 2 and JAX's CUDA PJRT plugin (package jax-cuda13-pjrt). No
# network. Run from the repository root:
#
#	OUT=/some/dir bench/gpu/run.sh
#
# Steps (each capped, the whole run stays under ~7.5 minutes; results are
# written as they come, so a cut-off run leaves what it finished):
#  1. tiny GPT training step on GoMLX/XLA          -> results.jsonl
#  2. parity of the GoMLX path with the CPU engine on this GPU -> parity_gpu.out
#  3. GPT-2 small on GoMLX/XLA                      -> results.jsonl
#  4. PyTorch eager (fp32; GPT-2 also with TF32), then torch.compile, tiny and
#     GPT-2 small -> results.jsonl
# summary.md is rewritten after every step; progress.log has timings.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/rlhf-gpu}
mkdir -p "$OUT"
BIN=bench/gpu/bin
START=$(date +%s)
BUDGET=${BUDGET:-450} # seconds for everything

log() { echo "[$(date -u +%T) +$(($(date +%s) - START))s] $*" | tee -a "$OUT/progress.log"; }

# run NAME CAP CMD...: runs CMD with a timeout of min(CAP, time left), its
# JSON lines appended to results.jsonl, stderr and stdout kept in NAME.log.
run() {
	local name=$1 cap=$2
	shift 2
	local left=$((BUDGET - ($(date +%s) - START)))
	if ((left < 20)); then
		log "skip $name: budget spent"
		return
	fi
	local lim=$((cap < left ? cap : left))
	log "start $name (limit ${lim}s)"
	timeout "$lim" "$@" >"$OUT/$name.out" 2>"$OUT/$name.log"
	local rc=$?
	grep '^{' "$OUT/$name.out" >>"$OUT/results.jsonl"
	log "end $name rc=$rc: $(tail -c 300 "$OUT/$name.out" | tr '\n' ' ')"
	summary
}

summary() {
	python3 - "$OUT" <<'PY' || true
import json, sys, os
out = sys.argv[1]
rows = []
p = os.path.join(out, "results.jsonl")
if os.path.exists(p):
    for line in open(p):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("| model | batch x seq | implementation | tokens/s | ms/step | first step (s) | loss first -> last |\n")
    f.write("|---|---|---|---:|---:|---:|---|\n")
    for r in sorted(rows, key=lambda r: (r["model"], r["impl"])):
        f.write(f"| {r['model']} ({r['params']/1e6:.1f}M) | {r['batch']}x{r['seq']} | {r['impl']} | "
                f"{r['tokens_per_s']:,.0f} | {r['ms_per_step']:.1f} | {r['first_step_s']:.1f} | "
                f"{r['first_loss']:.3f} -> {r['last_loss']:.3f} |\n")
PY
}

PLUGIN_DIR=$(python3 -c 'import jax_plugins.xla_cuda13, os; print(os.path.dirname(jax_plugins.xla_cuda13.__file__))' 2>>"$OUT/env.txt")
PLUGIN=$PLUGIN_DIR/xla_cuda_plugin.so
export GOMLX_NO_AUTO_INSTALL=1
{
	date -u
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
	python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
	echo "plugin $PLUGIN"
	ls -la "$PLUGIN_DIR" "$BIN"
} >>"$OUT/env.txt" 2>&1
log "plugin: $PLUGIN"
if [[ ! -f $PLUGIN || ! -x $BIN/xlabench || ! -x $BIN/xla.test ]]; then
	log "missing plugin or binaries (see env.txt); run bench/gpu/build.sh first and carry bench/gpu/bin"
fi
DEV="xla:$PLUGIN"

run go_tiny 120 "$BIN/xlabench" -device "$DEV" -model tiny -batch 16 -steps 50 -warmup 5
# Parity with the CPU engine on the GPU: strict tolerances, then looser ones
# if the strict run fails (XLA's GPU kernels sum in other orders).
run parity_gpu 150 "$BIN/xla.test" -test.v -device "$DEV"
if ! grep -q '^PASS' "$OUT/parity_gpu.out"; then
	run parity_gpu_loose 120 "$BIN/xla.test" -test.v -test.run 'TestGPT|TestAdamW|TestMLP' -device "$DEV" -atol 1e-3 -rtol 1e-2
fi
run go_gpt2 150 "$BIN/xlabench" -device "$DEV" -model gpt2 -batch 8 -steps 10 -warmup 3
run torch_eager_tiny 60 python3 bench/gpu/torch_gpt.py --model tiny --batch 16 --mode eager --steps 50 --warmup 5
run torch_eager_gpt2 60 python3 bench/gpu/torch_gpt.py --model gpt2 --batch 8 --mode eager --steps 10 --warmup 3
run torch_eager_tf32_gpt2 60 python3 bench/gpu/torch_gpt.py --model gpt2 --batch 8 --mode eager --steps 10 --warmup 3 --tf32
run torch_compile_tiny 90 python3 bench/gpu/torch_gpt.py --model tiny --batch 16 --mode compile --steps 50 --warmup 5
run torch_compile_gpt2 150 python3 bench/gpu/torch_gpt.py --model gpt2 --batch 8 --mode compile --steps 10 --warmup 3
log "done"
cat "$OUT/summary.md"
