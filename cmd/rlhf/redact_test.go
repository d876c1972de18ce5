package main

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://alice:s3cret@db.example:5432/labels?sslmode=disable", "postgres://alice:xxxxx@db.example:5432/labels?sslmode=disable"},
		{"postgres://alice@db.example/labels", "postgres://alice@db.example/labels"},
		{"runs/labels.db", "runs/labels.db"},
		{"sqlite:///tmp/labels.db", "sqlite:///tmp/labels.db"},
		{"postgres://alice:s3cret@db.example:bad port/x", "(unparseable URL)"},
	} {
		got := redactURL(c.in)
		if got != c.want {
			t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("redactURL(%q) shows the password", c.in)
		}
	}
}
