#!/usr/bin/env bash
# Times model/gpt's BenchmarkSample with the token draw before and after
# commit 69a77f4 (one-pass top-k heap, each exp once) and checks that both
# builds sample the same text; see before_after.sh. The old build gets the
# benchmark file of 69a77f4, which added the plain sub-benchmark.
#
#   bench/sample/draw.sh [ROUNDS]     (default 2)
OLD_FILES=model/gpt/gpt_test.go@69a77f4 exec "$(dirname "$0")/before_after.sh" 69a77f4 "$@"
