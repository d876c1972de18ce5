package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A run directory linked from another experiment's directory counts as a
// run directory; a file or a dangling link does not.
func TestIsDir(t *testing.T) {
	root := t.TempDir()
	dir, file := filepath.Join(root, "run"), filepath.Join(root, "file")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"to-dir": dir, "to-file": file, "dangling": filepath.Join(root, "gone")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"run": true, "to-dir": true, "file": false, "to-file": false, "dangling": false, "missing": false} {
		if got := isDir(filepath.Join(root, name)); got != want {
			t.Errorf("isDir(%s) = %v, want %v", name, got, want)
		}
	}
}
