package text_test

import (
	"fmt"
	"slices"
	"strings"

	"rlhf/text"
)

func ExampleDefaultTokenizer() {
	tok, err := text.DefaultTokenizer()
	if err != nil {
		panic(err)
	}
	ids := tok.Encode("The Congress shall have power.")
	fmt.Println(len(ids), "tokens")
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%q", tok.TokenBytes(id)))
	}
	fmt.Println(strings.Join(parts, " "))
	fmt.Println(tok.Decode(ids))
	fmt.Println(tok.VocabSize(), tok.EndOfText())
	// Output:
	// 6 tokens
	// "The" " Congress" " shall" " have" " power" "."
	// The Congress shall have power.
	// 4096 4095
}

func ExampleTrain() {
	texts := []string{"low lower lowest", "new newer newest", "low new wide wider widest"}
	tok, err := text.Train(slices.Values(texts), 270, text.TrainOptions{})
	if err != nil {
		panic(err)
	}
	ids := tok.Encode("lowest newest")
	fmt.Println(tok.Decode(ids) == "lowest newest", len(ids) < len("lowest newest"))
	// Output:
	// true true
}

func ExampleSplit() {
	docs, err := text.LoadCorpus()
	if err != nil {
		panic(err)
	}
	train, val := text.Split(docs, text.DefaultValFraction, text.DefaultSplitSeed)
	fmt.Println(len(docs), len(train), len(val))
	// Output:
	// 733 660 73
}
