package xla

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph ops read like the math they build
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/nn"
)

// Sampler generates continuations of prompts with a GPT on a GoMLX device,
// with a key/value cache that stays on the device: the device counterpart
// of gpt.Model.Sample, with the same SampleConfig and the same Samples.
//
// Shapes are fixed by padding to buckets: the batch to a power of two, the
// prompts (left-padded, so that every row's newest token sits in the same
// cache slot) to a power of two of at least 8, and the cache length Tmax to
// a multiple of 32 that holds the prompt bucket and the new tokens. One
// prefill executable per (batch, prompt, Tmax) bucket runs the prompts,
// fills the cache and draws the first token; one decode executable per
// (batch, Tmax) bucket feeds one token per row, writes its keys and values
// into a small recent cache, attends over the row's slots in both caches
// and draws the next token; every 8 steps one merge executable copies the
// recent cache into the main one. They are built once per bucket and
// sampling mode (greedy, plain, top-k, top-p) and cached.
//
// Between decode steps the caches and the drawn tokens stay on the device;
// the host sends the cache slot indices and, when sampling, one uniform per
// row, and reads back the tokens and their log-probabilities (in batches of
// steps, to check for EOS).
//
// Tokens are drawn on the device by inverse-CDF sampling, in token-id order,
// with one uniform per row and step from the same per-row PCG streams as
// gpt.Model.Sample (PCG(Seed, row) or Seeds[row]). Without top-k or top-p
// this is the CPU sampler's own rule, so both draw the same tokens unless a
// uniform falls within float32 rounding of a CDF boundary. Top-k and top-p
// keep the tokens at or above a threshold found by bisection on the device:
// the same sets as the CPU sampler's (up to exact ties at the threshold),
// drawn in token-id order rather than most-likely-first, so the
// distribution is the same but individual draws differ from the CPU's.
//
// The parameters are copied to the device by NewSampler and by Upload, or
// read from a Trainer's device state after UseTrainer. A Sampler is not
// safe for concurrent use, nor to use while its Trainer runs a step.
type Sampler struct {
	Backend backends.Backend
	Model   *gpt.Model

	params []nn.NamedParam   // the transformer's parameters (no heads)
	dev    []*tensors.Tensor // their device copies, in the same order
	tr     *Trainer          // if not nil, holds the parameters instead of dev
	trIdx  []int             // index in tr.Params of each of params
	exes   map[exeKey]*Graph // compiled prefill, decode and merge executables
	order  []exeKey          // insertion order, for eviction
	tm     SampleTimings     // where the time went
}

// SampleTimings adds up where the wall time of a Sampler's calls went.
// With PJRT, launching an executable may return before the device finishes;
// the wait then shows in Fetch.
type SampleTimings struct {
	Calls   int           // Sample calls
	Builds  int           // executables built
	Steps   int           // decode steps run
	Build   time.Duration // graph building and compilation
	Prefill time.Duration // running prefill executables (inputs included)
	Decode  time.Duration // running decode executables (inputs included)
	Fetch   time.Duration // copying tokens and log-probs to the host
}

// maxSamplerExes bounds the executables a Sampler keeps; the oldest goes first.
const maxSamplerExes = 32

// fetchEvery is how many steps' tokens wait on the device before the host
// reads them to check for EOS (StopAtEOS only; otherwise they are read at
// the end).
const fetchEvery = 8

// bisectSteps is the number of halvings that find a top-k or top-p
// threshold: enough to narrow a float32 logit range to adjacent floats.
const bisectSteps = 48

// sampleMode selects how the executables draw tokens.
type sampleMode struct {
	greedy bool // argmax (temperature 0)
	topK   bool // keep the K most likely tokens
	topP   bool // keep the most likely tokens whose mass reaches P
}

func modeOf(cfg gpt.SampleConfig, vocab int) sampleMode {
	if cfg.Temperature == 0 {
		return sampleMode{greedy: true}
	}
	return sampleMode{topK: cfg.TopK > 0 && cfg.TopK < vocab, topP: cfg.TopP > 0 && cfg.TopP < 1}
}

// stage names the three executables of a bucket.
type stage int

const (
	stagePrefill stage = iota // prompts -> first tokens, caches
	stageDecode               // one token per row -> next tokens, recent caches
	stageMerge                // recent caches -> main caches
)

// exeKey identifies a compiled executable. tp is the prompt bucket of a
// prefill (0 otherwise); a merge has no sampling mode.
type exeKey struct {
	stage           stage
	batch, tp, tmax int
	mode            sampleMode
}

// recentSlots is the length of the recent caches: decode steps write their
// keys and values there, leaving the main caches as they are, and every
// recentSlots steps a merge copies them into the main caches. Without
// input-output aliasing (GoMLX v0.26 has none) an updated tensor is a new
// buffer, so this writes the main caches once per recentSlots steps instead
// of on every step.
const recentSlots = 8

// NewSampler copies m's transformer parameters to backend. Call Upload after
// the host values change (e.g. after Trainer.Sync).
func NewSampler(backend backends.Backend, m *gpt.Model) (*Sampler, error) {
	if backend == nil {
		return nil, errors.New("xla: sampler: nil backend")
	}
	if m == nil || m.GPT == nil {
		return nil, errors.New("xla: sampler: nil model")
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("xla: sampler: %w", err)
	}
	s := &Sampler{Backend: backend, Model: m, params: m.GPT.Params(), exes: map[exeKey]*Graph{}}
	if err := s.Upload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Upload copies the host values of the model's parameters to the device,
// replacing the previous copies (and ending a UseTrainer).
func (s *Sampler) Upload() error {
	free(s.dev...)
	s.dev = s.dev[:0]
	s.tr, s.trIdx = nil, nil
	for _, np := range s.params {
		v := np.P.Value
		if v == nil || v.Data == nil {
			return fmt.Errorf("xla: sampler: parameter %s has no host value", np.Name)
		}
		s.dev = append(s.dev, tensors.FromFlatDataAndDimensions(slices.Clone(v.Data), v.Shape...))
	}
	return nil
}

// UseTrainer makes the Sampler read the model's parameters from tr's
// device state, as it is at each Sample call, instead of its own copies
// (which it frees): sampling between training steps then needs no Sync and
// no Upload. tr must train the model's own parameter Vars (e.g.
// NewTrainer(backend, model.Params(), ...)) on the same backend. Upload
// returns to the Sampler's own copies.
func (s *Sampler) UseTrainer(tr *Trainer) error {
	if tr == nil {
		return errors.New("xla: sampler: nil trainer")
	}
	if tr.Backend != s.Backend {
		return errors.New("xla: sampler: the trainer runs on another backend")
	}
	at := map[*ag.Var]int{}
	for i, np := range tr.Params {
		at[np.P] = i
	}
	idx := make([]int, len(s.params))
	for i, np := range s.params {
		j, ok := at[np.P]
		if !ok {
			return fmt.Errorf("xla: sampler: the trainer does not hold the model's parameter %s", np.Name)
		}
		idx[i] = j
	}
	free(s.dev...)
	s.dev = nil
	s.tr, s.trIdx = tr, idx
	return nil
}

// Prepare builds the executables that Sample would build for batch prompts
// of at most promptLen tokens and cfg (its mode and MaxNewTokens), without
// running them: a warm-up, or a way to time compilation apart. It returns
// the time spent building the prefill and the decode (with the merge)
// executables (zero for those already built).
func (s *Sampler) Prepare(batch, promptLen int, cfg gpt.SampleConfig) (prefill, decode time.Duration, err error) {
	if err := cfg.Validate(); err != nil {
		return 0, 0, err
	}
	if batch <= 0 || promptLen <= 0 {
		return 0, 0, fmt.Errorf("xla: sampler: prepare for %d prompts of %d tokens", batch, promptLen)
	}
	bb, tp, tmax := Buckets(batch, promptLen, cfg.MaxNewTokens)
	mode := modeOf(cfg, s.Model.Config.VocabSize)
	start := time.Now()
	if _, err := s.exe(exeKey{stage: stagePrefill, batch: bb, tp: tp, tmax: tmax, mode: mode}); err != nil {
		return 0, 0, err
	}
	prefill = time.Since(start)
	if cfg.MaxNewTokens > 1 {
		start = time.Now()
		if _, err := s.exe(exeKey{stage: stageDecode, batch: bb, tmax: tmax, mode: mode}); err != nil {
			return prefill, 0, err
		}
		if cfg.MaxNewTokens-1 > recentSlots {
			if _, err := s.exe(exeKey{stage: stageMerge, batch: bb, tmax: tmax}); err != nil {
				return prefill, 0, err
			}
		}
		decode = time.Since(start)
	}
	return prefill, decode, nil
}

// Compiled returns the number of executables the Sampler holds.
func (s *Sampler) Compiled() int { return len(s.exes) }

// Timings returns the time spent so far; ResetTimings starts over.
func (s *Sampler) Timings() SampleTimings { return s.tm }

// ResetTimings zeroes the Timings, e.g. after a warm-up call.
func (s *Sampler) ResetTimings() { s.tm = SampleTimings{} }

// Close frees the executables and the device copies of the parameters.
func (s *Sampler) Close() {
	for _, g := range s.exes {
		g.Finalize()
	}
	s.exes, s.order = map[exeKey]*Graph{}, nil
	free(s.dev...)
	s.dev = nil
	s.tr, s.trIdx = nil, nil
}

// pow2 returns the smallest power of two >= n, at least lo.
func pow2(n, lo int) int {
	b := lo
	for b < n {
		b *= 2
	}
	return b
}

// Buckets returns the padded shapes a call with b prompts, the longest
// maxPrompt tokens long, and maxNew new tokens runs at: batch, prompt
// length and cache length Tmax.
func Buckets(b, maxPrompt, maxNew int) (batch, tp, tmax int) {
	batch = pow2(b, 1)
	tp = pow2(maxPrompt, 8)
	tmax = (tp + max(maxNew-1, 1) + 31) / 32 * 32
	return batch, tp, tmax
}

// Sample continues each prompt with up to cfg.MaxNewTokens tokens on the
// device, as gpt.Model.Sample does on the CPU (same validation, EOS
// handling, seeds and outputs; see Sampler for how draws compare). It
// returns early with ctx's error when ctx is cancelled.
func (s *Sampler) Sample(ctx context.Context, prompts [][]int, cfg gpt.SampleConfig) (*gpt.Samples, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mc := s.Model.Config
	B := len(prompts)
	if B == 0 {
		return &gpt.Samples{}, nil
	}
	if cfg.Seeds != nil && len(cfg.Seeds) != B {
		return nil, fmt.Errorf("xla: sample: %d seeds for %d prompts", len(cfg.Seeds), B)
	}
	if cfg.Temperature > 0 && 1/cfg.Temperature > math.MaxFloat32 {
		return nil, fmt.Errorf("xla: sample: temperature %g is too small for float32 logits (0 means greedy)", cfg.Temperature)
	}
	maxLen := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("xla: sample: prompt %d is empty (start it with the EOS token %d)", i, mc.EOSTokenID)
		}
		if len(p)+cfg.MaxNewTokens-1 > mc.NPositions {
			return nil, fmt.Errorf("xla: sample: prompt %d of %d tokens plus %d new tokens needs %d positions, the model has %d",
				i, len(p), cfg.MaxNewTokens, len(p)+cfg.MaxNewTokens-1, mc.NPositions)
		}
		for _, id := range p {
			if id < 0 || id >= mc.VocabSize {
				return nil, fmt.Errorf("xla: sample: prompt %d: token id %d outside the vocabulary of %d", i, id, mc.VocabSize)
			}
		}
		maxLen = max(maxLen, len(p))
	}
	s.tm.Calls++
	bb, tp, tmax := Buckets(B, maxLen, cfg.MaxNewTokens)
	mode := modeOf(cfg, mc.VocabSize)

	// Left-padded prompts (bb, tp): row b's tokens end at slot tp-1; the
	// rows that only fill the batch bucket hold the EOS token alone.
	ids := make([]int32, bb*tp)
	pads := make([]int32, bb)
	for b := range bb {
		p := []int{mc.EOSTokenID}
		if b < B {
			p = prompts[b]
		}
		pads[b] = int32(tp - len(p))
		for j := range int(pads[b]) {
			ids[b*tp+j] = gpt.PadID
		}
		for j, id := range p {
			ids[b*tp+int(pads[b])+j] = int32(id)
		}
	}
	rngs := cfg.RowRands(B)
	padT := tensors.FromFlatDataAndDimensions(pads, bb)
	defer func() { _ = padT.FinalizeAll() }()
	// The sampling inputs: 1/temperature, K, P (constant for the call) and
	// one uniform per row for each step.
	var scal []*tensors.Tensor
	if !mode.greedy {
		scal = []*tensors.Tensor{tensors.FromScalar(float32(1 / cfg.Temperature)),
			tensors.FromScalar(float32(cfg.TopK)), tensors.FromScalar(float32(cfg.TopP))}
		defer func() {
			for _, x := range scal {
				_ = x.FinalizeAll()
			}
		}()
	}
	// samplingIn returns the sampling inputs of one step and, apart, its
	// uniforms, for the caller to free after the run.
	samplingIn := func() ([]any, *tensors.Tensor) {
		if mode.greedy {
			return nil, nil
		}
		u := make([]float32, bb)
		for i := range bb {
			u[i] = 0.5
			if i < B {
				u[i] = float32(rngs[i].Float64())
			}
		}
		ut := tensors.FromFlatDataAndDimensions(u, bb)
		return []any{scal[0], scal[1], scal[2], ut}, ut
	}

	out := &gpt.Samples{Tokens: make([][]int, B), LogProbs: make([][]float32, B)}
	done := make([]bool, B)
	live := B
	var pending []*tensors.Tensor // tokens, log-probs of the steps not yet read
	var cache []*tensors.Tensor   // main caches, keys then values (B, H, Tmax, hd) per layer
	var recent []*tensors.Tensor  // recent caches (B, H, recentSlots, hd)
	var tok *tensors.Tensor       // the latest tokens (B), on the device
	defer func() {
		if tok != nil && !slices.Contains(pending, tok) {
			_ = tok.FinalizeAll()
		}
		free(slices.Concat(pending, cache, recent)...)
	}()
	// drain reads the pending steps' tokens into out, in step order.
	drain := func() error {
		start := time.Now()
		defer func() { s.tm.Fetch += time.Since(start) }()
		for k := 0; k < len(pending); k += 2 {
			toks, err := tensors.CopyFlatData[int32](pending[k])
			if err != nil {
				return fmt.Errorf("xla: sample: fetch tokens: %w", err)
			}
			lps, err := tensors.CopyFlatData[float32](pending[k+1])
			if err != nil {
				return fmt.Errorf("xla: sample: fetch log-probs: %w", err)
			}
			for i := range B {
				if done[i] {
					continue
				}
				tok := int(toks[i])
				out.Tokens[i] = append(out.Tokens[i], tok)
				out.LogProbs[i] = append(out.LogProbs[i], lps[i])
				if cfg.StopAtEOS && tok == mc.EOSTokenID {
					done[i] = true
					live--
				}
			}
		}
		for _, x := range pending {
			if x != tok { // the next decode step's input
				_ = x.FinalizeAll()
			}
		}
		pending = pending[:0]
		return nil
	}

	pre, err := s.exe(exeKey{stage: stagePrefill, batch: bb, tp: tp, tmax: tmax, mode: mode})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	idT := tensors.FromFlatDataAndDimensions(ids, bb, tp)
	in := append(s.paramsIn(), idT, padT)
	si, u := samplingIn()
	outs, err := runGraph(pre, slices.Concat(in, si))
	free(u, idT)
	s.tm.Prefill += time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("xla: sample: prefill: %w", err)
	}
	L := mc.NLayer
	tok = outs[0]
	pending = append(pending, outs[0], outs[1])
	cache, recent = outs[2:2+2*L], outs[2+2*L:]

	// donated returns xs as inputs that hand their buffers to the run.
	donated := func(xs []*tensors.Tensor) ([]any, error) {
		in := make([]any, len(xs))
		for i, x := range xs {
			d, err := donate(x, s.Backend)
			if err != nil {
				return nil, fmt.Errorf("xla: sample: donate cache: %w", err)
			}
			in[i] = d
		}
		return in, nil
	}
	var dec, merge *Graph
	for step := 1; step < cfg.MaxNewTokens; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if cfg.StopAtEOS && len(pending) >= 2*fetchEvery {
			if err := drain(); err != nil {
				return nil, err
			}
			if live == 0 {
				break
			}
		}
		if dec == nil {
			if dec, err = s.exe(exeKey{stage: stageDecode, batch: bb, tmax: tmax, mode: mode}); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		// Step 1 writes slot tp; the recent caches hold the slots from
		// first on, and are merged into the main ones once full.
		first := tp + (step-1)/recentSlots*recentSlots
		if step > 1 && (step-1)%recentSlots == 0 {
			if merge == nil {
				if merge, err = s.exe(exeKey{stage: stageMerge, batch: bb, tmax: tmax}); err != nil {
					return nil, err
				}
			}
			in, err := donated(cache)
			if err != nil {
				return nil, err
			}
			cache = nil
			from := tensors.FromScalar(int32(first - recentSlots))
			outs, err := runGraph(merge, slices.Concat(in, anys(recent), []any{from}))
			free(from)
			if err != nil {
				return nil, fmt.Errorf("xla: sample: merge before step %d: %w", step, err)
			}
			cache = outs
		}
		in, err := donated(recent)
		if err != nil {
			return nil, err
		}
		recent = nil
		slot, from := tensors.FromScalar(int32(tp+step-1)), tensors.FromScalar(int32(first))
		si, u := samplingIn()
		outs, err := runGraph(dec, slices.Concat(s.paramsIn(), anys(cache), in, []any{tok, slot, from, padT}, si))
		free(u, slot, from)
		s.tm.Decode += time.Since(start)
		s.tm.Steps++
		if err != nil {
			return nil, fmt.Errorf("xla: sample: decode step %d: %w", step, err)
		}
		if !slices.Contains(pending, tok) { // read already
			_ = tok.FinalizeAll()
		}
		tok = outs[0]
		pending = append(pending, outs[0], outs[1])
		recent = outs[2:]
	}
	if err := drain(); err != nil {
		return nil, err
	}
	return out, nil
}

// anys returns xs as executable inputs (not donated).
func anys(xs []*tensors.Tensor) []any {
	in := make([]any, len(xs))
	for i, x := range xs {
		in[i] = x
	}
	return in
}

// free frees the device and host copies of the non-nil xs.
func free(xs ...*tensors.Tensor) {
	for _, x := range xs {
		if x != nil {
			_ = x.FinalizeAll()
		}
	}
}

// paramsIn returns the parameters' device tensors as the first inputs of
// an executable, with room for the rest.
func (s *Sampler) paramsIn() []any {
	in := make([]any, 0, len(s.params)+2*s.Model.Config.NLayer+8)
	if s.tr != nil {
		for _, j := range s.trIdx {
			in = append(in, s.tr.p[j])
		}
		return in
	}
	for _, x := range s.dev {
		in = append(in, x)
	}
	return in
}

// exe returns the executable of k, building it on first use.
func (s *Sampler) exe(k exeKey) (*Graph, error) {
	if g, ok := s.exes[k]; ok {
		return g, nil
	}
	start := time.Now()
	g, err := s.build(k)
	if err != nil {
		return nil, err
	}
	s.tm.Build += time.Since(start)
	s.tm.Builds++
	if len(s.order) == maxSamplerExes {
		s.exes[s.order[0]].Finalize()
		delete(s.exes, s.order[0])
		s.order = s.order[1:]
	}
	s.exes[k] = g
	s.order = append(s.order, k)
	return g, nil
}

// build traces and compiles the executable of k.
func (s *Sampler) build(k exeKey) (g *Graph, err error) {
	name := fmt.Sprintf("rlhf_sample_%s_b%d_t%d_m%d", [...]string{"prefill", "decode", "merge"}[k.stage], k.batch, k.tp, k.tmax)
	defer func() {
		if r := recover(); r != nil {
			if g != nil {
				g.Finalize()
			}
			g, err = nil, fmt.Errorf("xla: sampler: build %s: %v", name, r)
		}
	}()
	g = NewGraph(s.Backend, name)
	var outs []*Node
	if k.stage == stageMerge {
		outs = s.mergeGraph(g, k)
	} else {
		n := map[*ag.Var]*Node{}
		for _, np := range s.params {
			n[np.P] = Parameter(g, np.Name, shapes.Make(dtypes.Float32, np.P.Value.Shape...))
		}
		if k.stage == stagePrefill {
			outs = s.prefillGraph(g, n, k)
		} else {
			outs = s.decodeGraph(g, n, k)
		}
	}
	g.Compile(outs...)
	return g, nil
}

// sampleInputs declares the sampling parameters of mode (none for greedy):
// 1/temperature, K and P (scalars) and one uniform per row (B).
func sampleInputs(g *Graph, mode sampleMode, b int) []*Node {
	if mode.greedy {
		return nil
	}
	f := shapes.Make(dtypes.Float32)
	return []*Node{Parameter(g, "inv_temperature", f), Parameter(g, "top_k", f), Parameter(g, "top_p", f),
		Parameter(g, "uniforms", shapes.Make(dtypes.Float32, b))}
}

// prefillGraph runs the left-padded prompts ids (B, Tp) with pads (B)
// filler slots in front, and returns the first drawn tokens (B), their
// log-probs (B), each layer's keys then values (B, H, Tmax, hd) and the
// recent caches (B, H, recentSlots, hd), keys then values: copies of the
// first slots, whose content is never attended to (it is masked until
// overwritten), only finite.
func (s *Sampler) prefillGraph(g *Graph, n map[*ag.Var]*Node, k exeKey) []*Node {
	m := s.Model.GPT
	B, T := k.batch, k.tp
	C, H := s.Model.Config.NEmbd, s.Model.Config.NHead
	hd := C / H
	ids := Parameter(g, "ids", shapes.Make(dtypes.Int32, B, T))
	pads := Parameter(g, "pads", shapes.Make(dtypes.Int32, B))
	si := sampleInputs(g, k.mode, B)

	slots := Iota(g, shapes.Make(dtypes.Int32, B, T), 1)                   // (B, T)
	padsBT := BroadcastToDims(Reshape(pads, B, 1), B, T)                   // (B, T)
	pos := Max(Sub(slots, padsBT), ZerosLike(slots))                       // filler: position 0
	x := Reshape(Gather(n[m.Wte.W], Reshape(ids, B*T, 1)), B, T, C)        // (B, T, C)
	x = Add(x, Reshape(Gather(n[m.Wpe.W], Reshape(pos, B*T, 1)), B, T, C)) // (B, T, C)
	row := Iota(g, shapes.Make(dtypes.Int32, T, T), 0)                     // query slot
	col := Iota(g, shapes.Make(dtypes.Int32, T, T), 1)                     // key slot
	causal := BroadcastToDims(Reshape(LessOrEqual(col, row), 1, 1, T, T), B, 1, T, T)
	valid := BroadcastToDims(Reshape(GreaterOrEqual(slots, padsBT), B, 1, 1, T), B, 1, T, T)
	allowed := LogicalAnd(causal, valid) // (B, 1, T, T)

	heads := func(x *Node) *Node { return TransposeAllAxes(Reshape(x, B, T, H, hd), 0, 2, 1, 3) } // (B, H, T, hd)
	var ks, vs []*Node
	for _, blk := range m.H {
		qkv := linear(n, layerNorm(n, x, blk.Ln1), blk.Attn.CAttn) // (B, T, 3C)
		q := heads(SliceAxis(qkv, 2, AxisRange(0, C)))
		kh := heads(SliceAxis(qkv, 2, AxisRange(C, 2*C)))
		vh := heads(SliceAxis(qkv, 2, AxisRange(2*C, 3*C)))
		o := maskedAttention(q, kh, vh, allowed)                                    // (B, H, T, hd)
		o = Reshape(TransposeAllAxes(o, 0, 2, 1, 3), B, T, C)                       // (B, T, C)
		x = Add(x, linear(n, o, blk.Attn.CProj))                                    // (B, T, C)
		x = Add(x, mlp(n, layerNorm(n, x, blk.Ln2), blk.MLP))                       // (B, T, C)
		ks, vs = append(ks, padSlots(kh, k.tmax)), append(vs, padSlots(vh, k.tmax)) // (B, H, Tmax, hd)
	}
	last := Reshape(SliceAxis(x, 1, AxisRange(T-1, T)), B, C) // (B, C): every row's newest token
	logits := lmHead(n, m, layerNorm(n, last, m.LnF))         // (B, V)
	tok, lp := drawTokens(logits, k.mode, si)
	var rs []*Node
	for _, c := range slices.Concat(ks, vs) {
		rs = append(rs, SliceAxis(c, 2, AxisRange(0, recentSlots)))
	}
	return slices.Concat([]*Node{tok, lp}, ks, vs, rs)
}

// padSlots extends a cache (B, H, T, hd) with zero slots to (B, H, tmax, hd).
func padSlots(x *Node, tmax int) *Node {
	d := x.Shape().Dimensions
	if d[2] == tmax {
		return x
	}
	z := Zeros(x.Graph(), shapes.Make(dtypes.Float32, d[0], d[1], tmax-d[2], d[3]))
	return Concatenate([]*Node{x, z}, 2)
}

// decodeGraph feeds tok (B) at cache slot slot (a scalar; position slot -
// pads[b] for row b). The main caches (B, H, Tmax, hd) hold slots up to
// first-1 and are only read; the recent caches (B, H, recentSlots, hd) hold
// slots first.. at index slot-first, where this step writes its keys and
// values. Each row attends over its slots pads[b]..slot in both. Returns
// the next tokens (B), their log-probs (B) and the recent caches, keys then
// values.
func (s *Sampler) decodeGraph(g *Graph, n map[*ag.Var]*Node, k exeKey) []*Node {
	m := s.Model.GPT
	cfg := s.Model.Config
	B, Tm, R := k.batch, k.tmax, recentSlots
	C, H, L := cfg.NEmbd, cfg.NHead, cfg.NLayer
	hd := C / H
	caches := func(name string, t int) []*Node {
		cs := make([]*Node, L)
		for l := range cs {
			cs[l] = Parameter(g, fmt.Sprintf("%s%d", name, l), shapes.Make(dtypes.Float32, B, H, t, hd))
		}
		return cs
	}
	ks, vs := caches("k", Tm), caches("v", Tm)
	rk, rv := caches("recent_k", R), caches("recent_v", R)
	tok := Parameter(g, "tokens", shapes.Make(dtypes.Int32, B))
	slot := Parameter(g, "slot", shapes.Make(dtypes.Int32))
	first := Parameter(g, "first", shapes.Make(dtypes.Int32))
	pads := Parameter(g, "pads", shapes.Make(dtypes.Int32, B))
	si := sampleInputs(g, k.mode, B)

	pos := Sub(BroadcastToDims(slot, B), pads)
	pos = Min(Max(pos, ZerosLike(pos)), BroadcastToDims(Scalar(g, dtypes.Int32, cfg.NPositions-1), B))
	x := Add(Gather(n[m.Wte.W], Reshape(tok, B, 1)), Gather(n[m.Wpe.W], Reshape(pos, B, 1))) // (B, C)
	j := Iota(g, shapes.Make(dtypes.Int32, B, Tm), 1)                                        // (B, Tm) slot ids
	mainOK := LogicalAnd(GreaterOrEqual(j, BroadcastToDims(Reshape(pads, B, 1), B, Tm)), LessThan(j, BroadcastToDims(first, B, Tm)))
	r := Iota(g, shapes.Make(dtypes.Int32, R), 0) // recent slot ids
	at := BroadcastToDims(Sub(slot, first), R)
	write := BroadcastToDims(Reshape(Equal(r, at), 1, 1, R, 1), B, H, R, hd)
	recentOK := BroadcastToDims(Reshape(LessOrEqual(r, at), 1, R), B, R)
	allowed := Reshape(Concatenate([]*Node{mainOK, recentOK}, 1), B, 1, 1, Tm+R)

	for l, blk := range m.H {
		qkv := linear(n, layerNorm(n, x, blk.Ln1), blk.Attn.CAttn) // (B, 3C)
		q := Reshape(SliceAxis(qkv, 1, AxisRange(0, C)), B, H, 1, hd)
		kn := BroadcastToDims(Reshape(SliceAxis(qkv, 1, AxisRange(C, 2*C)), B, H, 1, hd), B, H, R, hd)
		vn := BroadcastToDims(Reshape(SliceAxis(qkv, 1, AxisRange(2*C, 3*C)), B, H, 1, hd), B, H, R, hd)
		rk[l] = Where(write, kn, rk[l]) // (B, H, R, hd)
		rv[l] = Where(write, vn, rv[l])
		o := Reshape(splitAttention(q, ks[l], vs[l], rk[l], rv[l], allowed), B, C) // (B, C)
		x = Add(x, linear(n, o, blk.Attn.CProj))
		x = Add(x, mlp(n, layerNorm(n, x, blk.Ln2), blk.MLP))
	}
	logits := lmHead(n, m, layerNorm(n, x, m.LnF)) // (B, V)
	next, lp := drawTokens(logits, k.mode, si)
	return slices.Concat([]*Node{next, lp}, rk, rv)
}

// splitAttention is maskedAttention over keys and values split in two
// caches, k1, v1 (B, H, T1, hd) and k2, v2 (B, H, T2, hd), without
// concatenating them: q (B, H, 1, hd), allowed (B, 1, 1, T1+T2) -> (B, H, 1, hd).
func splitAttention(q, k1, v1, k2, v2, allowed *Node) *Node {
	hd := q.Shape().Dimensions[3]
	t1 := k1.Shape().Dimensions[2]
	score := func(k *Node) *Node { return DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}) } // (B, H, 1, T)
	sc := MulScalar(Concatenate([]*Node{score(k1), score(k2)}, 3), 1/math.Sqrt(float64(hd)))               // (B, H, 1, T1+T2)
	d := sc.Shape().Dimensions
	sc = Where(BroadcastToDims(allowed, d...), sc, BroadcastToDims(f32(q.Graph(), -1e30), d...))
	p := Exp(logSoftmax(sc))
	p1, p2 := SliceAxis(p, 3, AxisRange(0, t1)), SliceAxis(p, 3, AxisRange(t1, d[3]))
	return Add(DotGeneral(p1, []int{3}, []int{0, 1}, v1, []int{2}, []int{0, 1}),
		DotGeneral(p2, []int{3}, []int{0, 1}, v2, []int{2}, []int{0, 1}))
}

// mergeGraph copies the recent caches (B, H, recentSlots, hd) into the main
// caches (B, H, Tmax, hd) at slots from.. (from a scalar) and returns the
// main caches, keys then values.
func (s *Sampler) mergeGraph(g *Graph, k exeKey) []*Node {
	cfg := s.Model.Config
	B, Tm, R := k.batch, k.tmax, recentSlots
	H, L := cfg.NHead, cfg.NLayer
	hd := cfg.NEmbd / H
	var main, recent []*Node
	for i := range 2 * L {
		main = append(main, Parameter(g, fmt.Sprintf("main%d", i), shapes.Make(dtypes.Float32, B, H, Tm, hd)))
	}
	for i := range 2 * L {
		recent = append(recent, Parameter(g, fmt.Sprintf("recent%d", i), shapes.Make(dtypes.Float32, B, H, R, hd)))
	}
	from := Parameter(g, "from", shapes.Make(dtypes.Int32))
	rel := Sub(Iota(g, shapes.Make(dtypes.Int32, Tm), 0), BroadcastToDims(from, Tm)) // slot - from
	in := LogicalAnd(GreaterOrEqual(rel, ZerosLike(rel)), LessThan(rel, BroadcastToDims(Scalar(g, dtypes.Int32, R), Tm)))
	idx := Reshape(Min(Max(rel, ZerosLike(rel)), BroadcastToDims(Scalar(g, dtypes.Int32, R-1), Tm)), Tm, 1)
	sel := BroadcastToDims(Reshape(in, 1, 1, Tm, 1), B, H, Tm, hd)
	outs := make([]*Node, 2*L)
	for i := range outs {
		spread := Gather(TransposeAllAxes(recent[i], 2, 0, 1, 3), idx) // (Tm, B, H, hd): recent slot slot-from
		outs[i] = Where(sel, TransposeAllAxes(spread, 1, 2, 0, 3), main[i])
	}
	return outs
}

// linear is x (..., In) · W (In, Out) + b (Out).
func linear(n map[*ag.Var]*Node, x *Node, l *nn.Linear) *Node {
	o := DotGeneral(x, []int{x.Rank() - 1}, nil, n[l.W], []int{0}, nil)
	if l.B != nil {
		o = Add(o, bcast(n[l.B], o.Shape().Dimensions))
	}
	return o
}

// layerNorm normalises x (..., C) over its last axis (biased variance).
func layerNorm(n map[*ag.Var]*Node, x *Node, ln *nn.LayerNorm) *Node {
	last := x.Rank() - 1
	z := Sub(x, ReduceAndKeep(x, ReduceMean, last))
	v := ReduceAndKeep(Mul(z, z), ReduceMean, last)
	y := Div(z, Sqrt(AddScalar(v, float64(ln.Eps))))
	d := y.Shape().Dimensions
	return Add(Mul(y, bcast(n[ln.W], d)), bcast(n[ln.B], d))
}

// mlp is c_proj(GELU(c_fc(x))) with GPT-2's tanh GELU.
func mlp(n map[*ag.Var]*Node, x *Node, f *nn.MLP) *Node {
	h := linear(n, x, f.CFc)
	inner := MulScalar(Add(h, MulScalar(Mul(Mul(h, h), h), 0.044715)), math.Sqrt(2/math.Pi))
	return linear(n, Mul(MulScalar(h, 0.5), AddScalar(Tanh(inner), 1)), f.CProj)
}

// lmHead is the tied head: h (B, C) · wteᵀ -> (B, V).
func lmHead(n map[*ag.Var]*Node, m *nn.GPT, h *Node) *Node {
	return DotGeneral(h, []int{1}, nil, n[m.Wte.W], []int{1}, nil)
}

// maskedAttention is softmax(q·kᵀ/√hd + mask)·v for q (B, H, Tq, hd), k, v
// (B, H, Tk, hd) and allowed (B, 1, Tq, Tk) -> (B, H, Tq, hd).
func maskedAttention(q, k, v, allowed *Node) *Node {
	hd := q.Shape().Dimensions[3]
	sc := MulScalar(DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1}), 1/math.Sqrt(float64(hd))) // (B, H, Tq, Tk)
	d := sc.Shape().Dimensions
	sc = Where(BroadcastToDims(allowed, d...), sc, BroadcastToDims(f32(q.Graph(), -1e30), d...))
	return DotGeneral(Exp(logSoftmax(sc)), []int{3}, []int{0, 1}, v, []int{2}, []int{0, 1})
}

// drawTokens picks one token per row of logits (B, V) and returns it (B,
// int32) with its log-probability under the distribution it was drawn from
// (B; 0 for greedy decoding, as gpt.Model.Sample). si holds 1/temperature,
// K, P and the uniforms (see sampleInputs).
func drawTokens(logits *Node, mode sampleMode, si []*Node) (tok, lp *Node) {
	g := logits.Graph()
	d := logits.Shape().Dimensions
	B, V := d[0], d[1]
	if mode.greedy {
		// The zeros are computed, not a constant: a backend may hand out a
		// constant output's buffer on every run, and the caller frees outputs.
		return ArgMax(logits, 1, dtypes.Int32), MulScalar(ReduceMax(logits, 1), 0)
	}
	invT, topK, topP, u := si[0], si[1], si[2], si[3]
	col := func(x *Node) *Node { return BroadcastToDims(Reshape(x, B, 1), B, V) } // (B) -> (B, V)
	z := Mul(logits, BroadcastToDims(invT, B, V))                                 // (B, V)
	zmax := ReduceMax(z, 1)                                                       // (B)
	w := Exp(Sub(z, col(zmax)))                                                   // (B, V)
	keep := GreaterOrEqual(z, BroadcastToDims(f32(g, math.Inf(-1)), B, V))        // all true
	zero := ZerosLike(w)
	if mode.topK {
		k := BroadcastToDims(topK, B)
		t := bisect(ReduceMin(z, 1), zmax, func(t *Node) *Node {
			return GreaterOrEqual(ReduceSum(ConvertDType(GreaterOrEqual(z, col(t)), dtypes.Float32), 1), k)
		})
		keep = GreaterOrEqual(z, col(t))
	}
	if mode.topP {
		kept := keep
		target := Mul(ReduceSum(Where(kept, w, zero), 1), BroadcastToDims(topP, B))
		t := bisect(ReduceMin(z, 1), zmax, func(t *Node) *Node {
			return GreaterOrEqual(ReduceSum(Where(LogicalAnd(kept, GreaterOrEqual(z, col(t))), w, zero), 1), target)
		})
		keep = LogicalAnd(kept, GreaterOrEqual(z, col(t)))
	}
	w = Where(keep, w, zero)
	c := prefixSum(w)                                          // (B, V)
	total := Reshape(SliceAxis(c, 1, AxisRange(V-1, V)), B)    // (B)
	below := LessOrEqual(c, col(Mul(u, total)))                // c_i <= u·total
	first := ReduceSum(ConvertDType(below, dtypes.Int32), 1)   // first i with c_i > u·total
	ids := Iota(g, shapes.Make(dtypes.Int32, B, V), 1)         // (B, V)
	lastKept := ReduceMax(Where(keep, ids, ZerosLike(ids)), 1) // u·total rounded up to total
	tok = Min(first, lastKept)                                 // (B)
	zt := ReduceSum(Where(Equal(ids, col(tok)), z, zero), 1)   // z[tok]
	return tok, Sub(Sub(zt, zmax), Log(total))
}

// bisect returns, per row, the largest t in [lo, hi] (B) at which ok(t)
// holds, for ok monotone in t and true at lo, to float32 resolution.
func bisect(lo, hi *Node, ok func(t *Node) *Node) *Node {
	for range bisectSteps {
		mid := MulScalar(Add(lo, hi), 0.5)
		c := ok(mid)
		lo, hi = Where(c, mid, lo), Where(c, hi, mid)
	}
	return Where(ok(hi), hi, lo)
}

// prefixSum is the inclusive cumulative sum of x (B, V) along V, as
// log2(V) shifted additions (portable to backends without a scan op).
func prefixSum(x *Node) *Node {
	d := x.Shape().Dimensions
	B, V := d[0], d[1]
	for sh := 1; sh < V; sh *= 2 {
		z := Zeros(x.Graph(), shapes.Make(dtypes.Float32, B, sh))
		x = Add(x, Concatenate([]*Node{z, SliceAxis(x, 1, AxisRange(0, V-sh))}, 1))
	}
	return x
}
