package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestConvert(t *testing.T) {
	src := t.TempDir()
	out := t.TempDir()
	os.MkdirAll(filepath.Join(src, "data"), 0o755)
	os.WriteFile(filepath.Join(src, "data", "1801_thomas_jefferson_dr.json"),
		[]byte(`{"year":1801,"name":"Thomas Jefferson","party":"dr","text":" Fellow citizens. "}`), 0o644)
	os.WriteFile(filepath.Join(src, "cats.txt"), []byte("ca01 news\n"), 0o644)
	os.WriteFile(filepath.Join(src, "ca01"), []byte("\n\n\tThe/at jury/nn met/vbd ./.\n"), 0o644)
	os.WriteFile(filepath.Join(src, "README"), []byte("not a corpus file"), 0o644)

	sotu, err := readSOTU(src)
	if err != nil {
		t.Fatal(err)
	}
	brown, err := readBrown(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeJSONL(filepath.Join(out, "x.jsonl.gz"), append(sotu, brown...)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, "x.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []doc
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []doc{
		{ID: "sotu/1801_thomas_jefferson", Source: "sotu", Title: "State of the Union Address, 1801, Thomas Jefferson",
			Year: 1801, President: "Thomas Jefferson", Text: "Fellow citizens."},
		{ID: "brown/ca01", Source: "brown", Genre: "news", Text: "The jury met."},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d docs", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("doc %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := readSOTU(t.TempDir()); err == nil {
		t.Error("empty sotu dir accepted")
	}
	if _, err := readBrown(t.TempDir()); err == nil {
		t.Error("empty brown dir accepted")
	}
}
