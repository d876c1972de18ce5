package main

import (
	"bytes"
	"context"
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
