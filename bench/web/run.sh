#!/usr/bin/env bash
# Load benchmark of the labeling app: 50 simulated labelers for 60 s on
# 127.0.0.1, against SQLite and then PostgreSQL. Results go to stdout; copy
# them into docs/results/web.md.
#
#   bench/web/run.sh               # both backends (starts PostgreSQL: needs root)
#   RLHF_BENCH_NO_POSTGRES=1 bench/web/run.sh   # SQLite only
set -euo pipefail
cd "$(dirname "$0")/../.."
LABELERS=${LABELERS:-50}
DURATION=${DURATION:-60s}
go build -o /tmp/rlhf-bench-web ./bench/web
echo "== SQLite"
/tmp/rlhf-bench-web -db sqlite -labelers "$LABELERS" -duration "$DURATION"
if [ "${RLHF_BENCH_NO_POSTGRES:-0}" != "1" ]; then
	if [ -z "${RLHF_TEST_POSTGRES:-}" ]; then
		eval "$(RLHF_CI_NO_CHROMIUM=1 scripts/ci-services.sh)"
	fi
	echo "== PostgreSQL"
	/tmp/rlhf-bench-web -db "$RLHF_TEST_POSTGRES" -labelers "$LABELERS" -duration "$DURATION"
fi
