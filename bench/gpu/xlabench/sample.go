package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"rlhf/model/gpt"
	"rlhf/xla"
)

// sampleResult is one sampling benchmark line; bench/gpu/torch_sample.py
// prints the same fields.
type sampleResult struct {
	Impl        string  `json:"impl"`
	Mode        string  `json:"mode"` // "sample"
	Device      string  `json:"device"`
	Model       string  `json:"model"`
	Params      int     `json:"params"`
	Batch       int     `json:"batch"`
	Prompt      int     `json:"prompt"`     // prompt tokens per row
	NewTokens   int     `json:"new_tokens"` // new tokens per row
	Calls       int     `json:"calls"`      // timed calls
	Precision   string  `json:"precision"`
	FirstCallS  float64 `json:"first_call_s"` // builds, compiles and runs
	MsPerCall   float64 `json:"ms_per_call"`
	MsPerToken  float64 `json:"ms_per_token"` // ms_per_call / new_tokens (one token for every row)
	TokensPerS  float64 `json:"tokens_per_s"` // new tokens of all rows per second
	Description string  `json:"description"`

	Shapes   string  `json:"shapes"`    // the buckets: batch x prompt -> cache length
	CompileS float64 `json:"compile_s"` // first call: building and compiling both executables
	Builds   int     `json:"builds"`    // executables built in the first call (want 2)
	Rebuilds int     `json:"rebuilds"`  // executables built during the timed calls (want 0)
	// Per timed call: running the prefill and the decode steps (PJRT may
	// return before the device finishes) and reading the tokens back (which
	// waits for it).
	PrefillMs float64 `json:"prefill_ms"`
	DecodeMs  float64 `json:"decode_ms"`
	FetchMs   float64 `json:"fetch_ms"`
}

// sampleConfig returns the benchmarked model of that name (see models) as a gpt.Config.
func sampleConfig(model string) (gpt.Config, error) {
	c, ok := models[model]
	if !ok {
		return gpt.Config{}, fmt.Errorf("unknown model %q (want tiny or gpt2)", model)
	}
	cfg := gpt.TinyConfig()
	cfg.VocabSize, cfg.NPositions, cfg.NLayer, cfg.NHead, cfg.NEmbd = c.Vocab, c.Ctx, c.Layers, c.Heads, c.Dim
	cfg.BOSTokenID, cfg.EOSTokenID = c.Vocab-1, c.Vocab-1
	if model != "tiny" {
		cfg.Tokenizer = ""
	}
	return cfg, nil
}

// runSample times xla.Sampler.Sample on random prompts: warmup untimed calls
// (the first compiles), then calls timed ones.
func runSample(device, model string, batch, promptLen, newTokens, calls, warmup int) error {
	if batch <= 0 || promptLen <= 0 || newTokens <= 0 || calls <= 0 || warmup < 1 {
		return fmt.Errorf("need batch, prompt, new, steps > 0 and warmup >= 1")
	}
	cfg, err := sampleConfig(model)
	if err != nil {
		return err
	}
	if promptLen+newTokens-1 > cfg.NPositions {
		return fmt.Errorf("prompt %d + new %d tokens exceed the model's %d positions", promptLen, newTokens, cfg.NPositions)
	}
	prec, err := xla.PrecisionOf(device)
	if err != nil {
		return err
	}
	logf("open %s", device)
	backend, err := xla.Open(device)
	if err != nil {
		return err
	}
	logf("init %s (%d parameters)", model, cfg.NumParams())
	m, err := gpt.New(cfg, 1)
	if err != nil {
		return err
	}
	s, err := xla.NewSampler(backend, m)
	if err != nil {
		return err
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(3, 4))
	prompts := make([][]int, batch)
	for i := range prompts {
		for range promptLen {
			prompts[i] = append(prompts[i], r.IntN(cfg.VocabSize))
		}
	}
	sc := gpt.SampleConfig{MaxNewTokens: newTokens, Temperature: 1, Seed: 5}
	ctx := context.Background()
	b, tp, tmax := xla.Buckets(batch, promptLen, newTokens)
	res := sampleResult{Impl: "gomlx-xla", Mode: "sample", Device: device, Model: model, Params: cfg.NumParams(),
		Batch: batch, Prompt: promptLen, NewTokens: newTokens, Calls: calls, Precision: string(prec),
		Shapes:      fmt.Sprintf("%dx%d -> %d", b, tp, tmax),
		Description: fmt.Sprintf("xla.Sampler: prefill, decode and merge executables, KV cache on the device, inverse-CDF sampling on the device (%s matmuls)", prec)}
	if prec == xla.TF32 {
		res.Impl = "gomlx-xla-tf32"
	}
	logf("build and compile the prefill and decode executables (%s, batch %d, prompt %d, new %d; buckets %s)",
		model, batch, promptLen, newTokens, res.Shapes)
	start := time.Now()
	pre, dec, err := s.Prepare(batch, promptLen, sc)
	if err != nil {
		return err
	}
	logf("prefill built in %.1fs, decode in %.1fs; first call", pre.Seconds(), dec.Seconds())
	out, err := s.Sample(ctx, prompts, sc)
	if err != nil {
		return err
	}
	res.FirstCallS = time.Since(start).Seconds() // compilation included
	tm := s.Timings()
	res.CompileS, res.Builds = tm.Build.Seconds(), tm.Builds
	logf("first call %.1fs: %d builds in %.1fs, prefill %.2fs, decode %.2fs, fetch %.2fs; row 0 starts %v",
		res.FirstCallS, tm.Builds, tm.Build.Seconds(), tm.Prefill.Seconds(), tm.Decode.Seconds(), tm.Fetch.Seconds(), head(out.Tokens[0], 8))
	for i := range warmup - 1 {
		ws := time.Now()
		if _, err := s.Sample(ctx, prompts, sc); err != nil {
			return err
		}
		logf("warm-up call %d: %.1f ms", i+2, 1000*time.Since(ws).Seconds())
	}
	s.ResetTimings()
	start = time.Now()
	for range calls {
		if _, err := s.Sample(ctx, prompts, sc); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	tm = s.Timings()
	res.MsPerCall = 1000 * el / float64(calls)
	res.MsPerToken = res.MsPerCall / float64(newTokens)
	res.TokensPerS = float64(batch*newTokens*calls) / el
	res.Rebuilds = tm.Builds
	res.PrefillMs = 1000 * tm.Prefill.Seconds() / float64(calls)
	res.DecodeMs = 1000 * tm.Decode.Seconds() / float64(calls)
	res.FetchMs = 1000 * tm.Fetch.Seconds() / float64(calls)
	logf("%d calls: %.1f ms/call (prefill %.1f, decode %.1f, fetch %.1f ms), %.0f new tokens/s",
		calls, res.MsPerCall, res.PrefillMs, res.DecodeMs, res.FetchMs, res.TokensPerS)
	return json.NewEncoder(os.Stdout).Encode(res)
}

func head(x []int, n int) []int { return x[:min(n, len(x))] }
