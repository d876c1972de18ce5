package main

import (
	"testing"

	"rlhf/text"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	if err := run(300, "val", []string{"brown"}, 2, dir); err != nil {
		t.Fatal(err)
	}
	tok, err := text.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 300 || tok.EndOfText() != 299 {
		t.Errorf("vocab %d, eot %d", tok.VocabSize(), tok.EndOfText())
	}
	if err := run(300, "bogus", []string{"brown"}, 2, dir); err == nil {
		t.Error("unknown split accepted")
	}
	if err := run(100, "val", []string{"brown"}, 2, dir); err == nil {
		t.Error("vocab 100 accepted")
	}
}
