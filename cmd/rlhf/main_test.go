package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnknownCommandListsValid(t *testing.T) {
	var buf bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, &buf)
	if err == nil || !strings.Contains(err.Error(), "bench") || !strings.Contains(err.Error(), "version") {
		t.Fatalf("want an error listing the valid commands, got %v", err)
	}
	if !strings.Contains(buf.String(), "Usage: rlhf") {
		t.Errorf("usage not printed: %q", buf.String())
	}
}

func TestNoCommandIsAnError(t *testing.T) {
	var buf bytes.Buffer
	if err := run(context.Background(), nil, &buf); err == nil {
		t.Fatal("bare rlhf should fail with usage")
	}
}

func TestBenchEngineSmoke(t *testing.T) {
	err := run(context.Background(), []string{"bench", "engine", "-sizes", "17,64", "-gemm-time", "1ms", "-steps", "1", "-batch", "1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBenchEngineBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "engine", "-sizes", "12,x"},
		{"bench", "engine", "-steps", "0"},
		{"bench", "nothing"},
		{"bench"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	if err := run(context.Background(), []string{"-cpuprofile", cpu, "-memprofile=" + mem, "version"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cpu, mem} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // pprof profiles are gzipped protobufs
			t.Errorf("%s: %d bytes, not a gzipped profile", f, len(b))
		}
	}
	for want, args := range map[string][]string{
		"needs a file name": {"-cpuprofile"},
		"memory profile":    {"-memprofile", filepath.Join(dir, "missing", "mem.prof"), "version"},
		"cpu profile":       {"-cpuprofile=" + filepath.Join(dir, "missing", "cpu.prof"), "version"},
	} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("args %q: error %v, want one mentioning %q", args, err, want)
		}
	}
}
