package loop

import (
	"context"
	"os"
	"strconv"
	"testing"

	"rlhf/feedback"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/reward"
)

func TestZZRMExp(t *testing.T) {
	dir := os.Getenv("RMEXP_DIR")
	if dir == "" {
		t.Skip()
	}
	lr, _ := strconv.ParseFloat(os.Getenv("RMEXP_LR"), 64)
	epochs, _ := strconv.Atoi(os.Getenv("RMEXP_EPOCHS"))
	var qs []feedback.Query
	var ls []feedback.Label
	for r, err := range feedback.ReadBestOfFile(dir+"/comparisons.jsonl", nil) {
		if err != nil {
			t.Fatal(err)
		}
		q, l := r.Comparison()
		qs, ls = append(qs, q), append(ls, l)
	}
	m, _ := gpt.Load("/tmp/lmwork/tiny")
	tok, _ := gpt.LoadTokenizer("/tmp/lmwork/tiny", m.Config)
	cs, _ := TokenComparisons(tok, qs, ls, false)
	if os.Getenv("RMEXP_NOPROMPT") != "" {
		for i := range cs {
			cs[i].Prompt = nil
		}
	}
	if os.Getenv("RMEXP_EOS") != "" {
		for i := range cs {
			for j := range cs[i].Completions {
				cs[i].Completions[j] = append(cs[i].Completions[j], tok.EndOfText())
			}
		}
	}
	nv := len(cs) / 8
	tr, val := cs[:len(cs)-nv], cs[len(cs)-nv:]
	mc, _ := ppo.CloneGPT(m)
	rm := reward.NewGPT(mc, tok, 1)
	c := DefaultTextRMConfig()
	c.LR, c.Epochs = lr, 1
	for e := range epochs {
		c.Seed = uint64(e + 1)
		mv, err := TrainTextRM(context.Background(), rm, tr, val, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := rm.Evaluate(tr[:300], 0)
		if e == epochs-1 {
			goal, _ := TextGoal(GoalSentiment, 0)
			type bk struct{ n, right, labOK int }
			buckets := map[int]*bk{}
			for _, c := range val {
				if !c.Choice.IsIndex() {
					continue
				}
				a, b := tok.Decode(c.Completions[0]), tok.Decode(c.Completions[1])
				ga, gb := goal(a), goal(b)
				d := ga - gb
				if d < 0 {
					d = -d
				}
				k := int(d * 10)
				if buckets[k] == nil {
					buckets[k] = &bk{}
				}
				bb := buckets[k]
				bb.n++
				sc, _ := rm.Score([][]int{c.Prompt, c.Prompt}, c.Completions)
				if (sc[0] > sc[1]) == (c.Choice == 0) {
					bb.right++
				}
				if (ga > gb) == (c.Choice == 0) {
					bb.labOK++
				}
			}
			for k := 0; k < 20; k++ {
				if bb := buckets[k]; bb != nil {
					t.Logf("|d| in [%.1f,%.1f): n %d rm acc %.2f label agrees with gold %.2f", float64(k)/10, float64(k+1)/10, bb.n, float64(bb.right)/float64(bb.n), float64(bb.labOK)/float64(bb.n))
				}
			}
		}
		t.Logf("epoch %d: train acc %.3f loss %.3f | val acc %.3f loss %.3f (n %d)", e+1, mt.Accuracy, mt.Loss, mv.Accuracy, mv.Loss, mv.Decided)
	}
}
