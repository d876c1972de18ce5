#!/usr/bin/env bash
# The whole test suite, as the README and CI run it on a fresh machine.
# It installs and starts what the integration tests need (PostgreSQL and
# Chromium from Debian's packages; needs root), then vets and tests everything,
# and package xla once more as built with -tags xla (cgo) when gcc is there.
# Plain `go test ./...` also works: those integration tests then skip with a reason.
#
# The output is plain `go test`'s (one line per package, full output of failed
# tests), followed by a list of the tests that skipped and why, so a missing
# service is visible without -v. Extra arguments go to `go test`; with -v every
# line is shown, with -json the raw event stream is printed and nothing summarised.
# The exit status is `go test`'s.
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

# testfilter reads `go test -json` events on stdin and prints what plain
# `go test` would (or every output line with -v), then the skipped tests.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/main.go" <<'EOF'
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json) output.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type test struct {
	lines []string
	done  bool
}

type pkg struct {
	lines []string         // package-level output and failed tests' output, in order
	tests map[string]*test // tests that have started
	order []string         // test names in start order
}

// framing reports whether a line is test2json's per-test framing, which plain
// `go test` does not print.
func framing(l string) bool {
	t := strings.TrimLeft(l, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func main() {
	verbose := len(os.Args) > 1 && os.Args[1] == "-v"
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	pkgs := map[string]*pkg{}
	get := func(name string) *pkg {
		p := pkgs[name]
		if p == nil {
			p = &pkg{tests: map[string]*test{}}
			pkgs[name] = p
		}
		return p
	}
	type skip struct{ pkg, test, reason string }
	var skips []skip
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // not an event: pass it on
			continue
		}
		if e.Action == "build-output" {
			out.Flush()
			fmt.Fprint(os.Stderr, e.Output)
			continue
		}
		if e.Package == "" {
			continue
		}
		if verbose && e.Action == "output" {
			fmt.Fprint(out, e.Output)
		}
		p := get(e.Package)
		if e.Test != "" {
			t := p.tests[e.Test]
			if t == nil {
				t = &test{}
				p.tests[e.Test] = t
				p.order = append(p.order, e.Test)
			}
			switch e.Action {
			case "output":
				if !framing(e.Output) {
					t.lines = append(t.lines, e.Output)
				}
			case "fail":
				t.done = true
				p.lines = append(p.lines, t.lines...)
			case "pass", "skip":
				t.done = true
				if e.Action == "skip" {
					var why []string
					for _, l := range t.lines {
						if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- SKIP") {
							why = append(why, l)
						}
					}
					skips = append(skips, skip{e.Package, e.Test, strings.Join(why, " ")})
				} else if strings.HasPrefix(e.Test, "Benchmark") {
					p.lines = append(p.lines, t.lines...)
				}
			}
			if t.done {
				t.lines = nil
			}
			continue
		}
		switch e.Action {
		case "output":
			p.lines = append(p.lines, e.Output)
		case "pass", "skip", "fail":
			if verbose {
				break
			}
			for _, l := range p.lines {
				if e.Action == "fail" || strings.TrimSpace(l) != "PASS" {
					fmt.Fprint(out, l)
				}
			}
			if e.Action == "fail" { // tests cut off by a panic or timeout
				for _, name := range p.order {
					if t := p.tests[name]; !t.done {
						fmt.Fprint(out, strings.Join(t.lines, ""))
					}
				}
			}
			out.Flush()
			delete(pkgs, e.Package)
		}
	}
	if len(skips) == 0 {
		return
	}
	// One line per package and reason, naming the tests that skipped for it.
	type key struct{ pkg, reason string }
	names := map[key][]string{}
	var keys []key
	for _, s := range skips {
		k := key{s.pkg, s.reason}
		if names[k] == nil {
			keys = append(keys, k)
		}
		names[k] = append(names[k], s.test)
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].pkg < keys[j].pkg })
	fmt.Fprintf(out, "\nSKIPPED: %d tests\n", len(skips))
	for _, k := range keys {
		n := names[k]
		list := strings.Join(n, ", ")
		if len(n) > 3 {
			list = fmt.Sprintf("%s and %d more", strings.Join(n[:3], ", "), len(n)-3)
		}
		reason := k.reason
		if reason == "" {
			reason = "(no reason given)"
		}
		fmt.Fprintf(out, "  %s %s: %s\n", k.pkg, list, reason)
	}
}
EOF
printf 'module testfilter\n\ngo 1.22\n' >"$tmp/go.mod"

mode="" json=0
for a in "$@"; do
	case "$a" in
	-v | -v=true | -test.v | -test.v=true) mode=-v ;;
	-json | -json=true) json=1 ;;
	esac
done
if [ "$json" = 1 ] || ! (cd "$tmp" && GOWORK=off GOFLAGS= go build -o testfilter .); then
	go test -timeout 20m ./... "$@"
	exit
fi
status=0
go test -json -timeout 20m ./... "$@" | "$tmp/testfilter" $mode || status=$?
# The XLA/PJRT devices are behind the build tag xla (cgo): vet and test that
# build of package xla too (on the pure-Go backend; no plugin is needed).
if command -v gcc >/dev/null; then
	CGO_ENABLED=1 go vet -tags xla ./xla ./bench/gpu/xlabench || status=1
	CGO_ENABLED=1 go test -json -tags xla -timeout 10m ./xla "$@" | "$tmp/testfilter" $mode || status=$?
else
	echo "test.sh: no C compiler, so the -tags xla build (XLA/PJRT devices) is not tested" >&2
fi
exit "$status"
