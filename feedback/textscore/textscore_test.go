package textscore

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"rlhf/feedback"
)

func TestSentimentSigns(t *testing.T) {
	pos := []string{
		"What a wonderful, happy day!",
		"I love this book; the characters are great.",
		"She smiled and thanked him warmly.",
	}
	neg := []string{
		"This is a terrible, awful movie.",
		"I hate the rain and the cold, miserable wind.",
		"He was angry and sad after the painful loss.",
	}
	neutral := []string{"The table has four legs.", ""}
	for _, s := range pos {
		if v := Sentiment(s); !(v > 0.3) {
			t.Errorf("Sentiment(%q) = %v, want clearly positive", s, v)
		}
	}
	for _, s := range neg {
		if v := Sentiment(s); !(v < -0.3) {
			t.Errorf("Sentiment(%q) = %v, want clearly negative", s, v)
		}
	}
	for _, s := range neutral {
		if v := Sentiment(s); v != 0 {
			t.Errorf("Sentiment(%q) = %v, want 0", s, v)
		}
	}
	// VADER's negation and intensifiers.
	if Sentiment("The food was not good.") >= 0 {
		t.Error("negation ignored")
	}
	if !(Sentiment("The food was extremely good.") > Sentiment("The food was good.")) {
		t.Error("intensifier ignored")
	}
}

func TestSentimentConcurrent(t *testing.T) {
	want := Sentiment("I love sunny days.")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := Sentiment("I love sunny days."); got != want {
					t.Errorf("concurrent Sentiment = %v, want %v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSentimentOracle(t *testing.T) {
	// Best of 4 by sentiment of the completion, as in Ziegler et al. 2019.
	q := feedback.TextQuery("q1", "The weather today",
		" is cold and gloomy.", " is lovely and bright, a joy!", " is fine.", " is horrible.")
	o := feedback.Oracle{Score: feedback.Completion(Sentiment)}
	l, err := o.Label(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if l.Choice != 1 {
		t.Errorf("sentiment oracle chose %v, want 1", l.Choice)
	}
}

func TestLipogram(t *testing.T) {
	l := Lipogram{Letter: 'e'}
	cases := []struct {
		text string
		want float64
	}{
		// 8 distinct words without e: 8/8.
		{"A man and his dog go to town.", 8.0 / 8},
		// 6 clean words, under the floor of 8: 6/8.
		{"A man and his dog go.", 6.0 / 8},
		{"A tall man and his dog walk to town", 9.0 / 9},
		// 5 clean distinct (a, cat, sat, on, mat) - 1 bad (the) over 8.
		{"A cat sat on the mat", 4.0 / 8},
		// Repetition pays little: 1 distinct over 10 words.
		{"a a a a a a a a a a", 1.0 / 10},
		// Nothing to score.
		{"", 0},
		{"!!! 123 ...", 0},
		// Every word has an e (case-insensitive): -6 over the floor 8.
		{"EVE SEES THREE EERIE TREES HERE", -6.0 / 8},
		// 2 clean (of, words) - 7 bad over 9 words.
		{"Every one of these words here have the e", (2.0 - 7) / 9},
	}
	for _, tc := range cases {
		if got := l.Score(tc.text); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Lipogram e %q = %v, want %v", tc.text, got, tc.want)
		}
	}
	// Natural prose scores below a careful lipogram.
	prose := "The sun rose over the hills and the birds started to sing their morning songs."
	lipo := "A bright sun rose up from hills, and birds sang loud morning songs."
	if !(l.Score(lipo) > l.Score(prose)) {
		t.Errorf("lipogram %v <= prose %v", l.Score(lipo), l.Score(prose))
	}
	if got := (Lipogram{Letter: 'a', MinWords: 2}).Score("bob"); got != 1.0/2 {
		t.Errorf("MinWords 2: %v", got)
	}
}

func ExampleSentiment() {
	fmt.Println(Sentiment("What a wonderful day!") > 0, Sentiment("What a horrible day!") < 0)
	// Output: true true
}

func ExampleLipogram() {
	noE := Lipogram{Letter: 'e'}
	// 9 distinct clean words among 10 (a twice).
	fmt.Printf("%.3f\n", noE.Score("A cat sat on a warm mat, calm and round."))
	// 4 distinct clean words, 2 with an e, over the floor of 8 words.
	fmt.Printf("%.3f\n", noE.Score("The cat sat on the mat."))
	// Output:
	// 0.900
	// 0.250
}

func FuzzScores(f *testing.F) {
	f.Add("I love it :) but NOT the ending!!!")
	f.Add("\xff\xfe kind of 😀 ")
	f.Fuzz(func(t *testing.T, s string) {
		v := Sentiment(s)
		if math.IsNaN(v) || v < -1 || v > 1 {
			t.Fatalf("Sentiment(%q) = %v", s, v)
		}
		if l := (Lipogram{Letter: 'e'}).Score(s); l < -1 || l > 1 {
			t.Fatalf("Lipogram(%q) = %v", s, l)
		}
	})
}

func BenchmarkSentiment(b *testing.B) {
	s := "The old house stood quietly at the end of the lane, its windows warm with light."
	Sentiment(s) // load the lexicon outside the timing
	for b.Loop() {
		Sentiment(s)
	}
}
