#!/usr/bin/env bash
# Builds the GPU-side binaries of bench/gpu into bench/gpu/bin (ignored by
# git): the xla package's parity tests, the training-step benchmark and the
# rlhf binary itself (for run.sh's track step), all with -tags xla (cgo;
# needs gcc and libdl here, nothing CUDA: the PJRT plugin is opened at run
# time), then checks that they start. Run from the
# repository root: bench/gpu/build.sh; then DRY=1 bench/gpu/run.sh runs the
# whole benchmark script on the pure-Go backend as a check.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/gpu/bin
export CGO_ENABLED=1
go test -c -tags xla -ldflags='-s -w' -o bench/gpu/bin/xla.test ./xla
go build -tags xla -ldflags='-s -w' -o bench/gpu/bin/xlabench ./bench/gpu/xlabench
go build -tags xla -ldflags='-s -w' -o bench/gpu/bin/rlhf ./cmd/rlhf
bench/gpu/bin/xla.test -test.run 'TestPluginPrecision' >/dev/null
bench/gpu/bin/xlabench -device go -model tiny -batch 1 -graph >/dev/null
bench/gpu/bin/rlhf version >/dev/null
ls -la bench/gpu/bin
