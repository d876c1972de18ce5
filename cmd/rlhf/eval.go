package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/text"
)

// evalOptions are the settings of `rlhf eval`.
type evalOptions struct {
	Policy  string `json:"policy"`
	Ref     string `json:"ref"`
	Goal    string `json:"goal"`
	Letter  string `json:"letter"`
	Prompts int    `json:"prompts"`
	MaxNew  int    `json:"max_new_tokens"`
	Seed    uint64 `json:"seed"`
	Device  string `json:"device"` // where the policy samples (see -device)
	Samples int    `json:"-"`
	Out     string `json:"-"`
}

// runEval is `rlhf eval`: the gold score and KL to a reference of a policy
// on held-out prompts.
func runEval(ctx context.Context, args []string) error {
	o, err := parseEval(args, os.Stderr)
	if err != nil {
		return err
	}
	_, err = evaluate(ctx, o, os.Stdout)
	return err
}

func parseEval(args []string, stderr io.Writer) (evalOptions, error) {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: rlhf eval [flags]

Sample one completion of each held-out prompt (text.Prompts("val"): documents no model saw in
training) from a policy and report the gold score (VADER sentiment or the lipogram goal) and the
sampled KL to a reference policy, Σ_t log π - log π_ref per completion, each as mean ± std.
-policy may be a model directory or a run directory of rlhf ppo or rlhf demo.

Flags:`)
		fs.PrintDefaults()
	}
	var o evalOptions
	fs.StringVar(&o.Policy, "policy", "models/tiny-gpt", "policy directory (or a run directory with policy/)")
	fs.StringVar(&o.Ref, "ref", "models/tiny-gpt", "reference policy for the KL (\"\" for none)")
	fs.StringVar(&o.Goal, "goal", loop.GoalSentiment, "gold goal: sentiment, lipogram or rm:DIR (a gold reward model)")
	fs.StringVar(&o.Letter, "letter", "e", "the letter a lipogram avoids")
	fs.IntVar(&o.Prompts, "prompts", 256, "held-out prompts to evaluate on (at most all of them)")
	fs.IntVar(&o.MaxNew, "max-new-tokens", ppo.DefaultLMConfig().MaxNewTokens, "tokens per completion")
	fs.Uint64Var(&o.Seed, "seed", 1, "sampling seed")
	fs.IntVar(&o.Samples, "samples", 5, "completions to print")
	fs.StringVar(&o.Out, "out", "", "also write the result as JSON to this file")
	fs.StringVar(&o.Device, "device", deviceCPU, strings.Replace(deviceHelp, "where training steps run", "where the policy samples", 1)+"\nthe gold goal and the KL to -ref run on the CPU engine")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("eval: unexpected arguments %q", fs.Args())
	}
	var errs []error
	if err := checkTextGoal(o.Goal, o.Letter); err != nil {
		errs = append(errs, fmt.Errorf("eval: -goal: %w", err))
	}
	if o.Prompts <= 0 || o.MaxNew <= 0 || o.Samples < 0 {
		errs = append(errs, fmt.Errorf("eval: -prompts %d and -max-new-tokens %d must be positive, -samples %d >= 0", o.Prompts, o.MaxNew, o.Samples))
	}
	if err := checkDevice(o.Device); err != nil {
		errs = append(errs, fmt.Errorf("eval: %w", err))
	}
	return o, errors.Join(errs...)
}

// evaluate runs the evaluation and prints it to w.
func evaluate(ctx context.Context, o evalOptions, w io.Writer) (loop.TextEval, error) {
	goal, err := textGoal(o.Goal, o.Letter)
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: -goal: %w", err)
	}
	dir := policyDir(o.Policy)
	policy, err := gpt.Load(dir)
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: policy: %w", err)
	}
	tok, err := gpt.LoadTokenizer(dir, policy.Config)
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: policy: %w", err)
	}
	var ref *gpt.Model
	if o.Ref != "" {
		if ref, err = gpt.Load(policyDir(o.Ref)); err != nil {
			return loop.TextEval{}, fmt.Errorf("eval: reference: %w", err)
		}
		if ref.Config.VocabSize != policy.Config.VocabSize {
			return loop.TextEval{}, fmt.Errorf("eval: reference has %d token ids, the policy %d", ref.Config.VocabSize, policy.Config.VocabSize)
		}
	}
	if o.MaxNew+2 > policy.Config.NPositions {
		return loop.TextEval{}, fmt.Errorf("eval: -max-new-tokens %d leaves no room for a prompt in %d positions", o.MaxNew, policy.Config.NPositions)
	}
	prompts, err := text.Prompts("val")
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: prompts: %w", err)
	}
	prompts = prompts[:min(o.Prompts, len(prompts))]
	s := loop.TextSampling{MaxNewTokens: o.MaxNew, Temperature: 1, StopAtEOS: true, PromptEOS: true}
	dev, err := openDevice(o.Device)
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: %w", err)
	}
	var ev loop.TextEval
	if dev.onCPU() {
		ev, err = loop.EvalText(ctx, policy, ref, tok, prompts, goal, s, o.Seed)
	} else {
		smp, serr := newDeviceSampler(dev, policy, nil)
		if serr != nil {
			return loop.TextEval{}, fmt.Errorf("eval: %w", serr)
		}
		defer smp.Close()
		ev, err = loop.EvalTextWith(ctx, smp, policy, ref, tok, prompts, goal, s, o.Seed)
		fmt.Fprintln(os.Stderr, samplerSummary(smp))
	}
	if err != nil {
		return loop.TextEval{}, fmt.Errorf("eval: %w", err)
	}
	for i := 0; i < o.Samples && i < len(ev.Samples); i++ {
		sm := ev.Samples[i]
		fmt.Fprintf(w, "%s|%s  (%s %+.2f, KL %.2f)\n", sm.Prompt, ppo.OneLine(sm.Completion), o.Goal, sm.Score, sm.KL)
	}
	fmt.Fprintf(w, "policy %s on %d held-out prompts: %s %+.3f ± %.3f", dir, ev.N, o.Goal, ev.Gold, ev.GoldStd)
	if ref != nil {
		fmt.Fprintf(w, ", KL to %s %.3f ± %.3f nats", o.Ref, ev.KL, ev.KLStd)
	}
	fmt.Fprintln(w)
	if o.Out != "" {
		buf, _ := json.MarshalIndent(map[string]any{"options": o, "n": ev.N, "gold_mean": ev.Gold, "gold_std": ev.GoldStd,
			"kl_mean": ev.KL, "kl_std": ev.KLStd, "samples": ev.Samples}, "", "  ")
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return ev, fmt.Errorf("eval: %w", err)
		}
		if err := os.WriteFile(o.Out, append(buf, '\n'), 0o644); err != nil {
			return ev, fmt.Errorf("eval: %w", err)
		}
	}
	return ev, nil
}
