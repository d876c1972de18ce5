#!/usr/bin/env bash
# Times model/gpt's BenchmarkSample with the cache's decode attention before
# and after commit ba0d02a (one tape-free pass over every row and head,
# ag.AttentionDecode) and checks that both builds sample the same text; see
# before_after.sh.
#
#   bench/sample/decode.sh [ROUNDS]     (default 2)
exec "$(dirname "$0")/before_after.sh" ba0d02a "$@"
