package ppo

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"rlhf/model/gpt"
)

// recordingSampler samples m on the CPU engine (or returns err, or drops
// the last row when short) and records the calls it gets.
type recordingSampler struct {
	m       *gpt.Model
	calls   int
	configs []gpt.SampleConfig
	err     error
	short   bool
}

func (s *recordingSampler) Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error) {
	s.calls++
	s.configs = append(s.configs, cfg)
	if s.err != nil {
		return nil, s.err
	}
	out, err := s.m.Sample(ctx, prompts, cfg)
	if err == nil && s.short {
		out.Tokens = out.Tokens[:len(out.Tokens)-1]
	}
	return out, err
}

// TestLMSamplerHook: a Sampler takes every rollout's sampling (one call per
// Step, with the trainer's seeds); one that samples the same weights as the
// CPU engine gives the run without a Sampler to the bit, and a Sampler's
// error or a short answer fails the Step with a clear error.
func TestLMSamplerHook(t *testing.T) {
	ctx := context.Background()
	c := toyConfig()
	c.BatchSize, c.Epochs = 8, 2
	newTrainer := func() *LMTrainer {
		m, tok := toyModel(t, 5)
		tr, err := NewLMTrainer(c, m, tok, TextScoreFunc(spaceScore), toyPrompts)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	cpu, hooked := newTrainer(), newTrainer()
	rec := &recordingSampler{m: hooked.Policy}
	hooked.Sampler = rec
	for step := range 3 {
		want, err := cpu.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := hooked.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("step %d with the Sampler differs:\n%+v\n%+v", step, got, want)
		}
	}
	if rec.calls != 3 {
		t.Errorf("the Sampler got %d calls in 3 steps", rec.calls)
	}
	for i, sc := range rec.configs {
		if len(sc.Seeds) != c.BatchSize || sc.MaxNewTokens != c.MaxNewTokens || sc.Temperature != c.Temperature {
			t.Errorf("call %d: config %+v", i, sc)
		}
	}
	if reflect.DeepEqual(rec.configs[0].Seeds, rec.configs[1].Seeds) {
		t.Error("two steps sampled with the same seeds")
	}
	for _, p := range cpu.Policy.Params() {
		for _, q := range hooked.Policy.Params() {
			if p.Name == q.Name && !reflect.DeepEqual(p.P.Value.Data, q.P.Value.Data) {
				t.Errorf("%s differs after 3 steps", p.Name)
			}
		}
	}

	bad := newTrainer()
	bad.Sampler = &recordingSampler{m: bad.Policy, err: errors.New("device lost")}
	if _, err := bad.Step(ctx); err == nil || !strings.Contains(err.Error(), "ppo: sample: device lost") {
		t.Errorf("a failing Sampler: error %v", err)
	}
	short := newTrainer()
	short.Sampler = &recordingSampler{m: short.Policy, short: true}
	if _, err := short.Step(ctx); err == nil || !strings.Contains(err.Error(), "7 completions for 8 prompts") {
		t.Errorf("a short Sampler: error %v", err)
	}
}

// TestGenerateWith: GenerateWith with a Sampler gives what the Sampler
// draws (here the CPU engine's own samples, so Generate's result), and a
// short answer is an error.
func TestGenerateWith(t *testing.T) {
	ctx := context.Background()
	m, tok := toyModel(t, 2)
	c := toyConfig()
	prompts := []string{"The weather today", "Our nation is", "I think"}
	wt, wp, wc, err := Generate(ctx, m, tok, prompts, c, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingSampler{m: m}
	gt, gp, gc, err := GenerateWith(ctx, rec, m, tok, prompts, c, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if rec.calls != 1 || !reflect.DeepEqual(wt, gt) || !reflect.DeepEqual(wp, gp) || !reflect.DeepEqual(wc, gc) || len(gc) != 3 || len(gc[0]) != c.MaxNewTokens {
		t.Errorf("GenerateWith: %d calls, %q / %q", rec.calls, gt, wt)
	}
	rec.short = true
	if _, _, _, err := GenerateWith(ctx, rec, m, tok, prompts, c, 1, 7); err == nil || !strings.Contains(err.Error(), "2 completions for 3 prompts") {
		t.Errorf("short sampler: error %v", err)
	}
}
