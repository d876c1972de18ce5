// Command trainbpe trains a byte-level BPE tokenizer on the shipped corpus
// and saves it in GPT-2's format (encoder.json + vocab.bpe).
//
// The project's default tokenizer was made with
//
//	go run ./text/cmd/trainbpe -vocab 4096 -split train -out text/data/tok4096
package main

import (
	"flag"
	"fmt"
	"iter"
	"os"
	"strings"
	"time"

	"rlhf/text"
)

func main() {
	vocab := flag.Int("vocab", 4096, "vocabulary size, <|endoftext|> included")
	split := flag.String("split", "train", "side of the default corpus split to train on: train or val")
	corpora := flag.String("corpora", strings.Join(text.Corpora, ","), "comma-separated corpora")
	minFreq := flag.Int("min-frequency", 2, "stop when no pair occurs this often")
	out := flag.String("out", "text/data/tok4096", "output directory")
	flag.Parse()
	if err := run(*vocab, *split, strings.Split(*corpora, ","), *minFreq, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(vocab int, split string, corpora []string, minFreq int, out string) error {
	docs, err := text.LoadSplit(split, corpora...)
	if err != nil {
		return err
	}
	var texts iter.Seq[string] = func(yield func(string) bool) {
		for _, d := range docs {
			if !yield(d.Text) {
				return
			}
		}
	}
	start := time.Now()
	tok, err := text.Train(texts, vocab, text.TrainOptions{MinFrequency: minFreq})
	if err != nil {
		return err
	}
	fmt.Printf("trained on %d documents in %v: %d tokens, %d merges\n",
		len(docs), time.Since(start).Round(time.Millisecond), tok.VocabSize(), tok.NumMerges())
	if err := tok.Save(out); err != nil {
		return err
	}
	fmt.Println("saved to", out)
	return nil
}
