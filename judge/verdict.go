package judge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/text"
)

// DefaultVerdictTemplate is the verdict prompt of [Verdict]: the query's
// prompt and the two completions, then a question the language model answers
// by continuing with one of the [DefaultVerdictAnswers].
const DefaultVerdictTemplate = "Two replies to: %[1]s\nReply one: %[2]s\nReply two: %[3]s\nThe happier, more positive reply is reply"

// DefaultVerdictAnswers are the continuations that mean "the first" and
// "the second" in [DefaultVerdictTemplate].
var DefaultVerdictAnswers = [2]string{" one", " two"}

// Verdict is a pairwise judge that asks a GPT language model instead of a
// reward model: it fills Template with the prompt and the two completions and
// compares the log-likelihoods of the two Answers as the continuation. To
// cancel the model's bias towards a position, it asks in both orders and
// averages: the first item's score is
//
//	d = ½ [ (log p(A1 | a, b) - log p(A2 | a, b)) + (log p(A2 | b, a) - log p(A1 | b, a)) ]
//
// and the second's -d, so that at temperature 1 the choice probability is
// sigmoid(2d). It judges two-item text queries only.
type Verdict struct {
	LM  *gpt.Model
	Tok *text.Tokenizer
	// Template takes the prompt, the first and the second completion
	// (%[1]s, %[2]s, %[3]s); DefaultVerdictTemplate if empty.
	Template string
	// Answers are the continuations naming the first and the second
	// completion; DefaultVerdictAnswers if both are empty.
	Answers [2]string
	// Batch is the most rows per forward pass; 0 means 32.
	Batch int
}

// LoadVerdict returns a judge that asks the GPT language model in dir with
// the default template, at temperature 1.
func LoadVerdict(dir string) (*Model, error) {
	m, err := gpt.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("judge: load %s: %w", dir, err)
	}
	tok, err := gpt.LoadTokenizer(dir, m.Config)
	if err != nil {
		return nil, fmt.Errorf("judge: load %s: %w", dir, err)
	}
	return &Model{Scorer: &Verdict{LM: m, Tok: tok}, Name: "lm-verdict:" + filepath.Base(filepath.Clean(dir)), Temperature: 1}, nil
}

// ScoreQueries returns (d, -d) for each two-item query; see [Verdict].
func (v *Verdict) ScoreQueries(ctx context.Context, qs []feedback.Query) ([][]float64, error) {
	if v.LM == nil || v.Tok == nil {
		return nil, errors.New("judge: verdict judge has no language model or tokenizer")
	}
	tmpl, ans := v.Template, v.Answers
	if tmpl == "" {
		tmpl = DefaultVerdictTemplate
	}
	if ans == [2]string{} {
		ans = DefaultVerdictAnswers
	}
	if !strings.Contains(tmpl, "%[1]s") || !strings.Contains(tmpl, "%[2]s") || !strings.Contains(tmpl, "%[3]s") {
		return nil, fmt.Errorf("judge: verdict template %q: want %%[1]s, %%[2]s and %%[3]s", tmpl)
	}
	ansIDs := [2][]int{v.Tok.Encode(ans[0]), v.Tok.Encode(ans[1])}
	if len(ansIDs[0]) == 0 || len(ansIDs[1]) == 0 {
		return nil, fmt.Errorf("judge: verdict answers %q encode to no tokens", ans)
	}
	room := v.LM.Config.NPositions - max(len(ansIDs[0]), len(ansIDs[1]))
	if room < 1 {
		return nil, fmt.Errorf("judge: verdict answers leave no room in %d positions", v.LM.Config.NPositions)
	}
	// Rows: for each query, order (a, b) then (b, a), each with both answers.
	var prompts, completions [][]int
	for _, q := range qs {
		if len(q.Items) != 2 {
			return nil, fmt.Errorf("judge: query %s has %d items; the verdict judge compares two", q.ID, len(q.Items))
		}
		a, b := q.Items[0], q.Items[1]
		for _, order := range [2][2]string{{a.Completion, b.Completion}, {b.Completion, a.Completion}} {
			ids := v.Tok.Encode(fmt.Sprintf(tmpl, a.Prompt, order[0], order[1]))
			if len(ids) == 0 {
				ids = []int{v.LM.Config.EOSTokenID}
			}
			if len(ids) > room { // keep the end: the question and the replies' ends
				ids = ids[len(ids)-room:]
			}
			for _, an := range ansIDs {
				prompts, completions = append(prompts, ids), append(completions, an)
			}
		}
	}
	batch := v.Batch
	if batch <= 0 {
		batch = 32
	}
	logp := make([]float64, 0, len(prompts))
	for lo := 0; lo < len(prompts); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("judge: %w", err)
		}
		hi := min(lo+batch, len(prompts))
		lps, err := v.LM.TokenLogProbs(prompts[lo:hi], completions[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("judge: verdict: %w", err)
		}
		for _, lp := range lps {
			sum := 0.0
			for _, x := range lp {
				sum += float64(x)
			}
			logp = append(logp, sum)
		}
	}
	out := make([][]float64, len(qs))
	for i := range qs {
		r := logp[4*i : 4*i+4] // (a,b):A1, (a,b):A2, (b,a):A1, (b,a):A2
		d := 0.5 * ((r[0] - r[1]) + (r[3] - r[2]))
		out[i] = []float64{d, -d}
	}
	return out, nil
}
