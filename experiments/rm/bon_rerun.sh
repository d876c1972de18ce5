#!/usr/bin/env bash
# Regenerates the seed-1 reward model of docs/results/rm.md with the current
# build (the same commands as that page: 16,000 + 32,000 labelled prompts,
# `rlhf rm` seed 1) and runs its best-of-n table, with the reward model and
# with VADER itself picking. Takes about 10 minutes on 2 cores.
#
#   experiments/rm/bon_rerun.sh [WORKDIR]      (default /tmp/rm-bon)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/rm-bon}
mkdir -p "$W"
go build -o "$W/rlhf" ./cmd/rlhf
R=$W/rlhf
$R prefs -policy models/tiny-gpt -out "$W/prefs-s1.jsonl" -n 16000 -k 2 -beta 0.1 -epsilon 0.05 -max-new-tokens 24 -seed 1 2>"$W/prefs1.log"
$R prefs -policy models/tiny-gpt -out "$W/prefs-s2.jsonl" -n 32000 -k 2 -beta 0.1 -epsilon 0.05 -max-new-tokens 24 -seed 2 2>"$W/prefs2.log"
cat "$W/prefs-s1.jsonl" "$W/prefs-s2.jsonl" >"$W/sentiment-pairs-48k.jsonl"
$R rm -data "$W/sentiment-pairs-48k.jsonl" -init models/tiny-gpt -out "$W/rm48-s1" -epochs 1 -lr 3e-4 -batch 16 -seed 1 2>&1 | tail -n 1
$R bon -policy models/tiny-gpt -reward "$W/rm48-s1" -goal sentiment -n 1,2,4,8,16,32 -prompts 128 -seed 1 -split val 2>&1 | grep '^|'
$R bon -policy models/tiny-gpt -goal sentiment -n 1,2,4,8,16,32 -prompts 128 -seed 1 -split val 2>&1 | grep '^|'
