package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The proxy table reads rmeval runs in the directory and those linked into
// it from another experiment's, one row per proxy with mean ± std over seeds.
func TestProxyTableFollowsLinks(t *testing.T) {
	root := t.TempDir()
	runs, other := filepath.Join(root, "runs"), filepath.Join(root, "other")
	write := func(dir, acc string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "summary.json"), []byte(`{"val_accuracy": `+acc+`, "val_comparisons": 10}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(runs, "rmeval-100-boot1-s1"), "0.6")
	write(filepath.Join(runs, "rmeval-100-boot1-s2"), "0.8")
	write(filepath.Join(other, "rmeval-100-s1"), "0.5")
	if err := os.Symlink(filepath.Join(other, "rmeval-100-s1"), filepath.Join(runs, "rmeval-100-s1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runs, "rmeval-100-s2"), nil, 0o644); err != nil { // a file, not a run
		t.Fatal(err)
	}
	md, err := proxyTable(runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 100 | s1 50.0% (10) | 50.0 ± 0.0 |", "| 100-boot1 | s1 60.0% (10), s2 80.0% (10) | 70.0 ± 10.0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("proxy table lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "| 100 |") > strings.Index(md, "| 100-boot1 |") {
		t.Errorf("rows out of order:\n%s", md)
	}
}
