package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/optim"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/safetensors"
	"rlhf/tensor"
	"rlhf/text"
)

// pretrainConfig is everything that determines a pretraining run. It is
// saved as run.json in the run directory, and --resume reads it back.
type pretrainConfig struct {
	Corpus     []string `json:"corpus"`      // corpora to train on (text.LoadCorpus names)
	ValFrac    float64  `json:"val_frac"`    // share of documents held out for validation
	SplitSeed  uint64   `json:"split_seed"`  // seed of the document split
	Dim        int      `json:"n_embd"`      // model width
	Layers     int      `json:"n_layer"`     // transformer blocks
	Heads      int      `json:"n_head"`      // attention heads
	Ctx        int      `json:"n_positions"` // positions, and the length of each training window
	Batch      int      `json:"batch"`       // windows per step
	Steps      int      `json:"steps"`       // optimiser steps in the whole run
	LR         float64  `json:"lr"`          // peak learning rate
	MinLR      float64  `json:"min_lr"`      // learning rate at the end of the cosine decay
	Warmup     int      `json:"warmup"`      // linear warm-up steps
	WeightDec  float64  `json:"weight_decay"`
	Beta2      float64  `json:"beta2"`
	Clip       float64  `json:"clip"`         // global gradient-norm limit (0: none)
	Seed       uint64   `json:"seed"`         // model initialisation and window sampling
	EvalEvery  int      `json:"eval_every"`   // steps between validation passes
	EvalBatch  int      `json:"eval_batches"` // validation batches per pass
	CkptEvery  int      `json:"ckpt_every"`   // steps between checkpoints
	LogEvery   int      `json:"log_every"`    // steps between metrics lines
	Samples    int      `json:"samples"`      // completions sampled at each evaluation
	SampleToks int      `json:"sample_tokens"`
	SampleTemp float64  `json:"sample_temperature"`
	SampleTopK int      `json:"sample_top_k"`
}

func (c pretrainConfig) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("pretrain: "+format, args...))
		}
	}
	check(len(c.Corpus) > 0, "-corpus names no corpus")
	for _, n := range c.Corpus {
		check(slices.Contains(text.Corpora, n), "-corpus: unknown corpus %q (valid: %s)", n, strings.Join(text.Corpora, ", "))
	}
	check(c.ValFrac > 0 && c.ValFrac < 1, "-val-frac %g must be in (0, 1)", c.ValFrac)
	check(c.Dim > 0 && c.Layers > 0 && c.Heads > 0 && c.Ctx > 1, "-d, -layers, -heads must be positive and -ctx > 1 (got %d, %d, %d, %d)", c.Dim, c.Layers, c.Heads, c.Ctx)
	check(c.Heads <= 0 || c.Dim%c.Heads == 0, "-d %d is not a multiple of -heads %d", c.Dim, c.Heads)
	check(c.Batch > 0, "-batch %d must be positive", c.Batch)
	check(c.Steps > 0, "-steps %d must be positive", c.Steps)
	check(c.LR > 0 && !math.IsInf(c.LR, 0), "-lr %g must be positive", c.LR)
	check(c.MinLR >= 0 && c.MinLR <= c.LR, "-min-lr %g must be in [0, -lr]", c.MinLR)
	check(c.Warmup >= 0, "-warmup %d must be >= 0", c.Warmup)
	check(c.WeightDec >= 0, "-weight-decay %g must be >= 0", c.WeightDec)
	check(c.Beta2 > 0 && c.Beta2 < 1, "-beta2 %g must be in (0, 1)", c.Beta2)
	check(c.Clip >= 0, "-clip %g must be >= 0", c.Clip)
	check(c.EvalEvery > 0 && c.CkptEvery > 0 && c.LogEvery > 0, "-eval-every, -ckpt-every and -log-every must be positive")
	check(c.EvalBatch > 0, "-eval-batches %d must be positive", c.EvalBatch)
	check(c.Samples >= 0 && c.SampleToks > 0, "-samples must be >= 0 and -sample-tokens positive")
	check(c.SampleToks < c.Ctx, "-sample-tokens %d must be below -ctx %d", c.SampleToks, c.Ctx)
	check(c.SampleTemp >= 0 && c.SampleTopK >= 0, "-temperature and -top-k must be >= 0")
	return errors.Join(errs...)
}

func (c pretrainConfig) modelConfig(vocab, eos int) gpt.Config {
	return gpt.Config{VocabSize: vocab, NPositions: c.Ctx, NEmbd: c.Dim, NLayer: c.Layers, NHead: c.Heads,
		LayerNormEpsilon: 1e-5, ActivationFunction: "gelu_new", ModelType: "gpt2",
		BOSTokenID: eos, EOSTokenID: eos, Tokenizer: "default"}
}

// resumable lists the flags that may change when a run is resumed; the rest
// come from run.json.
var resumable = []string{"out", "resume", "steps", "tokens", "stop-after", "eval-every", "ckpt-every", "log-every", "cache-dir", "samples", "sample-tokens", "device"}

// runPretrain is `rlhf pretrain`: train a GPT-2 from scratch on the shipped
// corpus.
func runPretrain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf pretrain [flags]\n\nTrain a GPT-2 language model on the shipped corpus (State of the Union addresses and the\nBrown corpus) with the default 4096-token tokenizer. The run directory gets metrics.jsonl,\nloss.svg, samples.jsonl, checkpoint/ (resumable) and model/ (the final weights).\n\nFlags:")
		fs.PrintDefaults()
	}
	c := pretrainConfig{}
	out := fs.String("out", "", "run directory (default runs/pretrain-<time>)")
	resume := fs.Bool("resume", false, "continue the run in -out from its last checkpoint")
	corpus := fs.String("corpus", strings.Join(text.Corpora, ","), "corpora to train on, comma-separated")
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "directory for the tokenised corpus cache (\"\" to disable)")
	tokens := fs.Int64("tokens", 0, "train on this many tokens (sets -steps to tokens/(batch·ctx))")
	stopAfter := fs.Int("stop-after", 0, "stop (with a checkpoint) after this step, as if interrupted; 0 runs to -steps")
	device := deviceFlag(fs)
	fs.Float64Var(&c.ValFrac, "val-frac", text.DefaultValFraction, "share of documents held out for validation")
	fs.Uint64Var(&c.SplitSeed, "split-seed", text.DefaultSplitSeed, "seed of the train/validation document split")
	fs.IntVar(&c.Dim, "d", 128, "model width (n_embd)")
	fs.IntVar(&c.Layers, "layers", 4, "transformer blocks (n_layer)")
	fs.IntVar(&c.Heads, "heads", 4, "attention heads (n_head)")
	fs.IntVar(&c.Ctx, "ctx", 128, "context length: positions (n_positions) and training window T")
	fs.IntVar(&c.Batch, "batch", 16, "windows per optimiser step")
	fs.IntVar(&c.Steps, "steps", 2000, "optimiser steps")
	fs.Float64Var(&c.LR, "lr", 2e-3, "peak learning rate")
	fs.Float64Var(&c.MinLR, "min-lr", -1, "final learning rate of the cosine decay (default lr/10)")
	fs.IntVar(&c.Warmup, "warmup", 100, "linear learning-rate warm-up steps")
	fs.Float64Var(&c.WeightDec, "weight-decay", 0.1, "AdamW weight decay (weight matrices only)")
	fs.Float64Var(&c.Beta2, "beta2", 0.95, "AdamW second-moment decay")
	fs.Float64Var(&c.Clip, "clip", 1, "clip the global gradient norm to this (0: no clipping)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the initialisation and of the window sampling")
	fs.IntVar(&c.EvalEvery, "eval-every", 200, "steps between validation passes (with samples)")
	fs.IntVar(&c.EvalBatch, "eval-batches", 16, "validation batches per pass")
	fs.IntVar(&c.CkptEvery, "ckpt-every", 200, "steps between checkpoints")
	fs.IntVar(&c.LogEvery, "log-every", 10, "steps between metrics lines")
	fs.IntVar(&c.Samples, "samples", 3, "completions to sample at each evaluation")
	fs.IntVar(&c.SampleToks, "sample-tokens", 48, "new tokens per sample")
	fs.Float64Var(&c.SampleTemp, "temperature", 0.8, "sampling temperature for the samples")
	fs.IntVar(&c.SampleTopK, "top-k", 40, "top-k for the samples (0: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("pretrain: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	set := flagsSet(fs)
	c.Corpus = strings.Split(*corpus, ",")
	if c.MinLR < 0 {
		c.MinLR = c.LR / 10
	}
	if *out == "" {
		if *resume {
			return errors.New("pretrain: -resume needs -out, the run directory to continue")
		}
		*out = filepath.Join("runs", "pretrain-"+time.Now().Format("20060102-150405"))
	}
	if err := checkDevice(*device); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if *stopAfter < 0 {
		return fmt.Errorf("pretrain: -stop-after %d must be >= 0", *stopAfter)
	}
	if *tokens < 0 {
		return fmt.Errorf("pretrain: -tokens %d must be >= 0", *tokens)
	}
	if *resume {
		saved, err := readRunConfig(*out)
		if err != nil {
			return err
		}
		for name := range set {
			if !slices.Contains(resumable, name) {
				return fmt.Errorf("pretrain: -%s cannot change when resuming (it is fixed in %s); only %s can", name,
					filepath.Join(*out, "run.json"), strings.Join(resumable, ", "))
			}
		}
		for _, kv := range []struct {
			name string
			dst  *int
			v    int
		}{{"steps", &saved.Steps, c.Steps}, {"eval-every", &saved.EvalEvery, c.EvalEvery}, {"ckpt-every", &saved.CkptEvery, c.CkptEvery},
			{"log-every", &saved.LogEvery, c.LogEvery}, {"samples", &saved.Samples, c.Samples}, {"sample-tokens", &saved.SampleToks, c.SampleToks}} {
			if set[kv.name] {
				*kv.dst = kv.v
			}
		}
		c = saved
	}
	if *tokens > 0 {
		c.Steps = int(math.Ceil(float64(*tokens) / float64(c.Batch*c.Ctx)))
	}
	if err := c.validate(); err != nil {
		return err
	}
	return pretrain(ctx, c, pretrainRun{out: *out, resume: *resume, cacheDir: *cacheDir, stopAfter: *stopAfter, device: *device}, os.Stderr)
}

// pretrainRun holds the settings of one invocation that are not part of the
// run's configuration.
type pretrainRun struct {
	out       string
	resume    bool
	cacheDir  string
	stopAfter int
	device    string // -device: cpu, xla:..., go
}

func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "rlhf")
}

func readRunConfig(dir string) (pretrainConfig, error) {
	var c pretrainConfig
	raw, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return c, fmt.Errorf("pretrain: resume %s: %w", dir, err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("pretrain: resume: parse %s: %w", filepath.Join(dir, "run.json"), err)
	}
	return c, nil
}

// trainState is the part of a checkpoint that is neither weights nor
// optimiser moments.
type trainState struct {
	Step     int     `json:"step"`      // optimiser steps completed
	Tokens   int64   `json:"tokens"`    // training tokens seen
	RNG      []byte  `json:"rng"`       // window sampler state (PCG, binary)
	ValLoss  float64 `json:"val_loss"`  // latest validation loss, nats/token (0: none yet)
	WallTime float64 `json:"wall_time"` // seconds spent training so far, over all sessions
}

const ckptDir = "checkpoint"

// saveCheckpoint writes model, optimiser and state to dir/checkpoint
// crash-safely: everything goes to checkpoint.tmp, which then replaces the
// old checkpoint by renames; a crash leaves checkpoint or checkpoint.old whole.
func saveCheckpoint(dir string, m *gpt.Model, opt *optim.AdamW, st trainState) error {
	tmp, cur, old := filepath.Join(dir, ckptDir+".tmp"), filepath.Join(dir, ckptDir), filepath.Join(dir, ckptDir+".old")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	if err := m.Save(tmp); err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, "optim.safetensors"), opt.StateDict(), nil); err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "state.json"), js, 0o644); err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	os.RemoveAll(old)
	if err := os.Rename(cur, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("pretrain: checkpoint: %w", err)
	}
	os.RemoveAll(old)
	return nil
}

// loadCheckpoint restores the newest whole checkpoint of dir into m and opt.
func loadCheckpoint(dir string, m *gpt.Model, opt *optim.AdamW) (trainState, error) {
	var st trainState
	path := filepath.Join(dir, ckptDir)
	if _, err := os.Stat(filepath.Join(path, "state.json")); err != nil {
		path = filepath.Join(dir, ckptDir+".old") // a crash between the two renames
		if _, err := os.Stat(filepath.Join(path, "state.json")); err != nil {
			return st, fmt.Errorf("pretrain: resume: no checkpoint in %s", dir)
		}
	}
	saved, err := gpt.Load(path)
	if err != nil {
		return st, fmt.Errorf("pretrain: resume: %w", err)
	}
	ps, qs := m.Params(), saved.Params()
	if len(ps) != len(qs) {
		return st, fmt.Errorf("pretrain: resume: checkpoint has %d tensors, the model %d", len(qs), len(ps))
	}
	for i := range ps {
		if !tensor.SameShape(ps[i].P.Value.Shape, qs[i].P.Value.Shape) {
			return st, fmt.Errorf("pretrain: resume: %s has shape %v in the checkpoint, %v in the model", ps[i].Name, qs[i].P.Value.Shape, ps[i].P.Value.Shape)
		}
		copy(ps[i].P.Value.Data, qs[i].P.Value.Data)
	}
	f, err := safetensors.ReadFile(filepath.Join(path, "optim.safetensors"))
	if err != nil {
		return st, fmt.Errorf("pretrain: resume: %w", err)
	}
	if err := opt.LoadStateDict(f.Tensors); err != nil {
		return st, fmt.Errorf("pretrain: resume: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(path, "state.json"))
	if err != nil {
		return st, fmt.Errorf("pretrain: resume: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("pretrain: resume: parse state.json: %w", err)
	}
	return st, nil
}

// corpusTokens returns the training and validation token streams of the
// configured corpus split, from the cache when it holds them.
func corpusTokens(c pretrainConfig, tok *text.Tokenizer, cacheDir string) (train, val []int, err error) {
	h := fnv.New64a()
	if err := tok.Write(h, h); err != nil {
		return nil, nil, fmt.Errorf("pretrain: hash tokenizer: %w", err)
	}
	fmt.Fprintf(h, "v1|%s|%g|%d", strings.Join(c.Corpus, ","), c.ValFrac, c.SplitSeed)
	cache := ""
	if cacheDir != "" {
		cache = filepath.Join(cacheDir, fmt.Sprintf("pretrain-tokens-%016x.bin", h.Sum64()))
		if train, val, err := readTokenCache(cache, tok.VocabSize()); err == nil {
			return train, val, nil
		}
	}
	docs, err := text.LoadCorpus(c.Corpus...)
	if err != nil {
		return nil, nil, fmt.Errorf("pretrain: %w", err)
	}
	trDocs, vaDocs := text.Split(docs, c.ValFrac, c.SplitSeed)
	train, val = text.TokenStream(tok, trDocs), text.TokenStream(tok, vaDocs)
	if cache != "" {
		if err := writeTokenCache(cache, train, val); err != nil {
			fmt.Fprintf(os.Stderr, "pretrain: not caching tokens: %v\n", err)
		}
	}
	return train, val, nil
}

// The token cache: "RLHFTOK1", two uint64 counts, then the train and val
// ids as little-endian uint32.
const tokMagic = "RLHFTOK1"

func readTokenCache(path string, vocab int) (train, val []int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) < 24 || string(raw[:8]) != tokMagic {
		return nil, nil, fmt.Errorf("pretrain: %s is not a token cache", path)
	}
	nt, nv := binary.LittleEndian.Uint64(raw[8:]), binary.LittleEndian.Uint64(raw[16:])
	if nt > uint64(len(raw)) || nv > uint64(len(raw)) || uint64(len(raw)) != 24+4*(nt+nv) {
		return nil, nil, fmt.Errorf("pretrain: token cache %s has the wrong size", path)
	}
	ids := make([]int, nt+nv)
	for i := range ids {
		id := binary.LittleEndian.Uint32(raw[24+4*i:])
		if int(id) >= vocab {
			return nil, nil, fmt.Errorf("pretrain: token cache %s holds id %d", path, id)
		}
		ids[i] = int(id)
	}
	return ids[:nt], ids[nt:], nil
}

func writeTokenCache(path string, train, val []int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	buf := make([]byte, 24, 24+4*(len(train)+len(val)))
	copy(buf, tokMagic)
	binary.LittleEndian.PutUint64(buf[8:], uint64(len(train)))
	binary.LittleEndian.PutUint64(buf[16:], uint64(len(val)))
	for _, s := range [][]int{train, val} {
		for _, id := range s {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
		}
	}
	tmp := path + fmt.Sprintf(".tmp-%d", os.Getpid())
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// window fills ids and targets (each T long) from stream at offset s.
func window(stream []int, s, t int, ids, targets []int) {
	copy(ids, stream[s:s+t])
	copy(targets, stream[s+1:s+t+1])
}

// evalLoss returns the mean next-token loss over fixed, evenly spaced
// validation windows: nb batches of b windows of length t, evaluated
// without gradients on s's device.
func evalLoss(s *stepper, m *gpt.Model, val []int, nb, b, t int) (float64, error) {
	ids, tg := make([]int, b*t), make([]int, b*t)
	n := nb * b
	span := len(val) - t - 1
	var sum float64
	for i := range nb {
		for j := range b {
			k := i*b + j
			window(val, k*span/max(n-1, 1), t, ids[j*t:(j+1)*t], tg[j*t:(j+1)*t])
		}
		l, err := s.forward(func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, tg, b, t, -1) })
		if err != nil {
			return 0, fmt.Errorf("pretrain: validation loss: %w", err)
		}
		sum += float64(l.Data[0])
	}
	return sum / float64(nb), nil
}

// samplePrompts picks n prompts spread over the validation prompts.
func samplePrompts(n int) []string {
	ps, err := text.Prompts("val")
	if err != nil || len(ps) == 0 || n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, ps[(i*len(ps)/n+len(ps)/(2*n))%len(ps)])
	}
	return out
}

// writeSamples samples a completion of each prompt, prints them to w and
// appends them to samples.jsonl.
func writeSamples(ctx context.Context, w io.Writer, dir string, step int, m *gpt.Model, tok *text.Tokenizer, prompts []string, c pretrainConfig) error {
	if len(prompts) == 0 {
		return nil
	}
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		ids[i] = tok.Encode(p)
		if max := c.Ctx - c.SampleToks; len(ids[i]) > max {
			ids[i] = ids[i][len(ids[i])-max:]
		}
	}
	s, err := m.Sample(ctx, ids, gpt.SampleConfig{MaxNewTokens: min(c.SampleToks, c.Ctx-1), Temperature: c.SampleTemp,
		TopK: c.SampleTopK, StopAtEOS: true, Seed: uint64(step)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "samples.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("pretrain: samples: %w", err)
	}
	defer f.Close()
	for i, p := range prompts {
		comp := tok.Decode(s.Tokens[i])
		fmt.Fprintf(w, "  [%d] %s|%s\n", step, p, strings.ReplaceAll(comp, "\n", " "))
		line, _ := json.Marshal(map[string]any{"step": step, "prompt": p, "completion": comp})
		if _, err := f.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("pretrain: samples: %w", err)
		}
	}
	return nil
}

// writeLossPlot renders loss.svg from the run's metrics.
func writeLossPlot(dir string) error {
	ms, err := report.LoadMetrics(filepath.Join(dir, report.MetricsFile))
	if err != nil {
		return err
	}
	p := ms.Plot("pretraining loss (nats/token)", "train/loss", "val/loss")
	p.YLabel = "loss"
	return report.WriteSVGFile(filepath.Join(dir, "loss.svg"), p.SVG())
}

// pretrain runs (or resumes) one pretraining run and reports to w.
func pretrain(ctx context.Context, c pretrainConfig, run pretrainRun, w io.Writer) error {
	dir := run.out
	if !run.resume {
		if _, err := os.Stat(filepath.Join(dir, ckptDir)); err == nil {
			return fmt.Errorf("pretrain: %s already holds a checkpoint; pass -resume to continue it or choose another -out", dir)
		}
	}
	dev, err := openDevice(run.device)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	tok, err := text.DefaultTokenizer()
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	train, val, err := corpusTokens(c, tok, run.cacheDir)
	if err != nil {
		return err
	}
	if len(train) < c.Ctx+2 || len(val) < c.Ctx+2 {
		return fmt.Errorf("pretrain: %d training and %d validation tokens are too few for windows of %d", len(train), len(val), c.Ctx)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if !run.resume {
		js, _ := json.MarshalIndent(c, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "run.json"), append(js, '\n'), 0o644); err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
	}
	m, err := gpt.New(c.modelConfig(tok.VocabSize(), tok.EndOfText()), c.Seed)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	opt := optim.NewAdamW(m.Params(), optim.AdamWConfig{Beta1: 0.9, Beta2: float32(c.Beta2), Eps: 1e-8,
		WeightDecay: float32(c.WeightDec), NoDecay: optim.MatricesOnly})
	pcg := rand.NewPCG(c.Seed, 0x5eed)
	var st trainState
	if run.resume {
		if st, err = loadCheckpoint(dir, m, opt); err != nil {
			return err
		}
		if err := pcg.UnmarshalBinary(st.RNG); err != nil {
			return fmt.Errorf("pretrain: resume: sampler state: %w", err)
		}
		fmt.Fprintf(w, "pretrain: resuming %s at step %d of %d\n", dir, st.Step, c.Steps)
	}
	rng := rand.New(pcg)
	// The step runs on the device from here on; m and opt hold its state
	// after a sync (before sampling and saving).
	s, err := newStepper(dev, opt, c.Clip)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	logger, err := report.NewLogger(dir)
	if err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	defer logger.Close()
	fmt.Fprintf(w, "pretrain: %d params (d=%d, %d layers, %d heads, T=%d), %d train / %d val tokens, batch %d, %d steps on %s -> %s\n",
		m.Config.NumParams(), c.Dim, c.Layers, c.Heads, c.Ctx, len(train), len(val), c.Batch, c.Steps, dev.name, dir)

	sched := optim.Cosine{Peak: c.LR, Min: c.MinLR, Warmup: c.Warmup, Total: c.Steps}
	prompts := samplePrompts(c.Samples)
	save := func() error {
		b, err := pcg.MarshalBinary()
		if err != nil {
			return fmt.Errorf("pretrain: sampler state: %w", err)
		}
		st.RNG = b
		if err := s.sync(); err != nil {
			return fmt.Errorf("pretrain: checkpoint: %w", err)
		}
		return saveCheckpoint(dir, m, opt, st)
	}
	evaluate := func() error {
		var err error
		if st.ValLoss, err = evalLoss(s, m, val, c.EvalBatch, c.Batch, c.Ctx); err != nil {
			return err
		}
		if err := logger.Log(st.Step, map[string]float64{"val/loss": st.ValLoss, "val/perplexity": math.Exp(st.ValLoss)}); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nstep %d: val loss %.4f nats/token (perplexity %.1f), %d tokens seen\n", st.Step, st.ValLoss, math.Exp(st.ValLoss), st.Tokens)
		if err := s.syncParams(); err != nil {
			return fmt.Errorf("pretrain: samples: %w", err)
		}
		if err := writeSamples(ctx, w, dir, st.Step, m, tok, prompts, c); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "pretrain: samples at step %d: %v\n", st.Step, err) // not worth stopping the run for
		}
		if err := logger.Sync(); err != nil {
			return err
		}
		return writeLossPlot(dir)
	}

	T, B := c.Ctx, c.Batch
	ids, tg := make([]int, B*T), make([]int, B*T)
	loss := func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, tg, B, T, -1) } // (1)
	// The bar counts this session's steps, so that its rate and ETA are right
	// after a resume.
	label, first := "pretrain", st.Step
	if first > 0 {
		label = fmt.Sprintf("pretrain from step %d", first)
	}
	bar := progress.New(w, c.Steps-first, label)
	var lossSum float64
	var lossN int
	sessionStart, sessionTokens := time.Now(), int64(0)
	wallBase := st.WallTime
	for st.Step < c.Steps {
		if ctx.Err() != nil || (run.stopAfter > 0 && st.Step >= run.stopAfter) {
			bar.Finish()
			st.WallTime = wallBase + time.Since(sessionStart).Seconds()
			if err := save(); err != nil {
				return err
			}
			logger.Sync()
			fmt.Fprintf(w, "pretrain: stopped at step %d; checkpoint saved. Continue with: rlhf pretrain -resume -out %s\n", st.Step, dir)
			return nil
		}
		for j := range B {
			window(train, rng.IntN(len(train)-T-1), T, ids[j*T:(j+1)*T], tg[j*T:(j+1)*T])
		}
		lr := sched.LR(st.Step)
		lv, norm, err := s.step(lr, loss)
		if err != nil {
			return fmt.Errorf("pretrain: step %d on %s: %w", st.Step, dev.name, err)
		}
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return fmt.Errorf("pretrain: loss became %g at step %d (lower -lr?)", lv, st.Step)
		}
		st.Step++
		st.Tokens += int64(B * T)
		sessionTokens += int64(B * T)
		lossSum += lv
		lossN++
		rate := float64(sessionTokens) / time.Since(sessionStart).Seconds()
		bar.SetStatus(fmt.Sprintf("loss %.3f  lr %.2e  %.0f tok/s", lv, lr, rate))
		bar.Set(st.Step - first)
		if st.Step%c.LogEvery == 0 || st.Step == c.Steps {
			if err := logger.Log(st.Step, map[string]float64{"train/loss": lossSum / float64(lossN), "train/lr": lr,
				"train/grad_norm": norm, "train/tokens": float64(st.Tokens), "train/tokens_per_s": rate}); err != nil {
				return err
			}
			lossSum, lossN = 0, 0
		}
		if st.Step%c.EvalEvery == 0 && st.Step < c.Steps {
			if err := evaluate(); err != nil {
				return err
			}
		}
		if st.Step%c.CkptEvery == 0 && st.Step < c.Steps {
			st.WallTime = wallBase + time.Since(sessionStart).Seconds()
			if err := save(); err != nil {
				return err
			}
		}
	}
	bar.Finish()
	st.WallTime = wallBase + time.Since(sessionStart).Seconds()
	if err := evaluate(); err != nil {
		return err
	}
	if err := save(); err != nil {
		return err
	}
	if err := m.Save(filepath.Join(dir, "model")); err != nil { // save() synced m
		return fmt.Errorf("pretrain: %w", err)
	}
	summary := map[string]any{"val_loss": st.ValLoss, "tokens": st.Tokens, "steps": st.Step, "wall_seconds": st.WallTime,
		"params": m.Config.NumParams()}
	js, _ := json.MarshalIndent(summary, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	fmt.Fprintf(w, "pretrain: done: %d steps, %d tokens, %.0f s, final val loss %.4f nats/token; model in %s\n",
		st.Step, st.Tokens, st.WallTime, st.ValLoss, filepath.Join(dir, "model"))
	return nil
}
