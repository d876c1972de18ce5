# Sourced by the before/after benchmarks (bench/pool/rm.sh, bench/sample/before_after.sh,
# bench/crew/tinygpt.sh), from the repository root with commit set: makes a temporary
# directory tmp and checks out the parent of commit into tmp/old as a git worktree; both go
# when the sourcing script exits.
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q "$tmp/old" "$commit~1"
