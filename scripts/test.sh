#!/usr/bin/env bash
# The whole test suite, as the README and CI run it on a fresh machine.
# It installs and starts what the integration tests need (PostgreSQL and
# Chromium from Debian's packages; needs root), then vets and tests everything.
# Plain `go test ./...` also works: those integration tests then skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f scripts/ci-services.sh ] && [ "$(id -u)" = 0 ]; then
	# The last line on stdout is an export line for the PostgreSQL test URL.
	line=$(bash scripts/ci-services.sh | tail -n 1) || {
		echo "test.sh: setting up PostgreSQL/Chromium failed; their tests will skip" >&2
		line=""
	}
	case "$line" in
	export\ *) eval "$line" ;;
	*) echo "test.sh: ci-services.sh printed no export line; PostgreSQL tests will skip" >&2 ;;
	esac
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -timeout 20m ./... "$@"
