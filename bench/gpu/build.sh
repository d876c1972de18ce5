#!/usr/bin/env bash
# Builds the GPU-side binaries of bench/gpu into bench/gpu/bin (ignored by
# git): the xla package's parity tests and the training-step benchmark, both
# with -tags xla (cgo; needs gcc and libdl here, nothing CUDA: the PJRT plugin
# is opened at run time). Run from the repository root: bench/gpu/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/gpu/bin
export CGO_ENABLED=1
go test -c -tags xla -ldflags='-s -w' -o bench/gpu/bin/xla.test ./xla
go build -tags xla -ldflags='-s -w' -o bench/gpu/bin/xlabench ./bench/gpu/xlabench
ls -la bench/gpu/bin
