// Package textscore holds programmatic goals for text completions: hidden
// "true" scores that synthetic labelers compare completions by, standing in
// for human taste, as in Ziegler et al. 2019's sentiment task.
//
// Each goal is a func(string) float64 (higher is better); wrap it with
// feedback.Completion or feedback.PromptAndCompletion to get a
// feedback.ScoreFunc for feedback.Oracle or feedback.Boltzmann.
package textscore

import (
	"strings"
	"sync"
	"unicode"

	"github.com/jonreiter/govader"
)

var analyzer = sync.OnceValue(govader.NewSentimentIntensityAnalyzer)

// Sentiment returns the VADER compound sentiment score of text, in [-1, 1]:
// above 0 positive, below 0 negative. It is the positive-sentiment goal of
// Ziegler et al. 2019, who used a sentiment classifier as the synthetic
// labeler. Score the completion alone (feedback.Completion(Sentiment)):
// the items of a query share their prompt, and VADER's compound is not
// additive, so including the prompt would only blur the differences between
// completions. The lexicon loads on first use; Sentiment is safe for
// concurrent use.
func Sentiment(text string) float64 {
	return analyzer().PolarityScores(text).Compound
}

// Lipogram scores how well a text avoids one letter ("write without the
// letter e"), a goal a small model can learn from the characters of its own
// vocabulary yet cannot meet by trivial means:
//
//	score = (distinct words without Letter - words with Letter) / max(words, MinWords)
//
// where words are maximal runs of letters compared case-insensitively. The
// score lies in [-1, 1]. Only distinct clean words count, so repeating one
// short word scores low (8 times "a" gives 1/8), and an empty or letterless
// completion scores 0 through the MinWords floor, below any fluent clean text.
// What the score does not check is whether the words are English: a policy
// that drifts into distinct non-words is held back by the KL penalty towards
// its pretrained model, not by this score.
type Lipogram struct {
	Letter   rune // the letter to avoid, e.g. 'e'; matched case-insensitively
	MinWords int  // the divisor's floor; 0 means 8
}

// Score returns the lipogram score of text.
func (l Lipogram) Score(text string) float64 {
	minWords := l.MinWords
	if minWords <= 0 {
		minWords = 8
	}
	banned := unicode.ToLower(l.Letter)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })
	clean := map[string]bool{}
	bad := 0
	for _, w := range words {
		if strings.ContainsRune(w, banned) {
			bad++
		} else {
			clean[w] = true
		}
	}
	return float64(len(clean)-bad) / float64(max(len(words), minWords))
}
