package gpt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"rlhf/ag"
	"rlhf/tensor"
)

// SampleConfig controls generation.
type SampleConfig struct {
	// MaxNewTokens is the most tokens generated per row (> 0).
	MaxNewTokens int
	// Temperature divides the logits; 0 means greedy (argmax) decoding.
	Temperature float64
	// TopK, if > 0, keeps only the K most likely tokens.
	TopK int
	// TopP, if in (0, 1), keeps the smallest set of most likely tokens whose
	// probability reaches TopP (nucleus sampling), after TopK.
	TopP float64
	// StopAtEOS ends a row when it samples the model's eos_token_id (kept as
	// the row's last token).
	StopAtEOS bool
	// Seed seeds row i's generator as PCG(Seed, i) unless Seeds is set.
	Seed uint64
	// Seeds, if not nil, gives each row its own seed (one per prompt), so a
	// row's sample does not depend on the rest of the batch.
	Seeds []uint64
}

// RowRands returns the generators of a batch of n rows: PCG(Seeds[i], 0)
// when Seeds is set, else PCG(Seed, i). Every sampler of a model draws row
// i's tokens from its generator, so that they draw the same tokens.
func (c SampleConfig) RowRands(n int) []*rand.Rand {
	rngs := make([]*rand.Rand, n)
	for i := range rngs {
		if c.Seeds != nil {
			rngs[i] = rand.New(rand.NewPCG(c.Seeds[i], 0))
		} else {
			rngs[i] = rand.New(rand.NewPCG(c.Seed, uint64(i)))
		}
	}
	return rngs
}

// Validate reports settings that cannot sample.
func (c SampleConfig) Validate() error {
	switch {
	case c.MaxNewTokens <= 0:
		return fmt.Errorf("gpt: sample max new tokens %d must be positive", c.MaxNewTokens)
	case !(c.Temperature >= 0) || math.IsInf(c.Temperature, 0):
		return fmt.Errorf("gpt: sample temperature %g must be finite and >= 0", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("gpt: sample top-k %d must be >= 0", c.TopK)
	case !(c.TopP >= 0 && c.TopP <= 1):
		return fmt.Errorf("gpt: sample top-p %g must be in [0, 1]", c.TopP)
	}
	return nil
}

// Samples are the outputs of Sample, one entry per prompt.
type Samples struct {
	// Tokens are the generated tokens (the prompt excluded; the EOS token
	// included when a row stopped at it).
	Tokens [][]int
	// LogProbs are the log-probabilities of Tokens under the distribution
	// they were drawn from (after temperature, top-k and top-p; 0 for greedy
	// decoding). For the model's own log-probabilities at temperature 1, use
	// TokenLogProbs.
	LogProbs [][]float32
}

// kvCache holds each layer's keys and values for every row: (B, Tmax, C).
type kvCache struct {
	k, v [][]float32
	tmax int
}

// Sample continues each prompt with up to cfg.MaxNewTokens tokens, all rows
// in one batch, with a key/value cache so each new token costs one position
// of compute. It runs without gradients and returns early with ctx's error
// when ctx is cancelled.
func (m *Model) Sample(ctx context.Context, prompts [][]int, cfg SampleConfig) (*Samples, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	B := len(prompts)
	if B == 0 {
		return &Samples{}, nil
	}
	if cfg.Seeds != nil && len(cfg.Seeds) != B {
		return nil, fmt.Errorf("gpt: %d seeds for %d prompts", len(cfg.Seeds), B)
	}
	lens := make([]int, B)
	tmax := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("gpt: prompt %d is empty (start it with the EOS token %d)", i, m.Config.EOSTokenID)
		}
		if err := m.checkTokens(p); err != nil {
			return nil, fmt.Errorf("gpt: prompt %d: %w", i, err)
		}
		lens[i] = len(p)
		tmax = max(tmax, len(p)+cfg.MaxNewTokens-1)
	}
	if tmax > m.Config.NPositions {
		return nil, fmt.Errorf("gpt: prompt plus %d new tokens needs %d positions, the model has %d",
			cfg.MaxNewTokens, tmax, m.Config.NPositions)
	}
	rngs := cfg.RowRands(B)
	C, V := m.Config.NEmbd, m.Config.VocabSize
	cache := &kvCache{tmax: tmax}
	for range m.Config.NLayer {
		cache.k = append(cache.k, make([]float32, B*tmax*C))
		cache.v = append(cache.v, make([]float32, B*tmax*C))
	}
	tp := ag.NewNoGradTape()
	logits := make([]float32, B*V) // (B, V) at each row's newest position
	m.prefill(tp, prompts, lens, cache, logits)

	out := &Samples{Tokens: make([][]int, B), LogProbs: make([][]float32, B)}
	done := make([]bool, B)
	toks := make([]int, B)
	pos := make([]int, B)
	samplers := sync.Pool{New: func() any { return newSampler(V) }}
	drawn, drawnLP := make([]int, B), make([]float32, B)
	for step := 0; step < cfg.MaxNewTokens; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Each row draws from its own random stream, so rows draw in
		// parallel and the tokens do not depend on how they are split.
		tensor.ParallelFor(B, drawGrain, func(lo, hi int) {
			s := samplers.Get().(*sampler)
			defer samplers.Put(s)
			for i := lo; i < hi; i++ {
				if !done[i] {
					drawn[i], drawnLP[i] = s.draw(logits[i*V:(i+1)*V], cfg, rngs[i])
				}
			}
		})
		live := 0
		for i := range B {
			if done[i] {
				continue // keeps feeding its last token; the result is unused
			}
			tok, lp := drawn[i], drawnLP[i]
			out.Tokens[i] = append(out.Tokens[i], tok)
			out.LogProbs[i] = append(out.LogProbs[i], lp)
			toks[i] = tok
			if cfg.StopAtEOS && tok == m.Config.EOSTokenID {
				done[i] = true
			} else {
				live++
			}
		}
		if live == 0 || step == cfg.MaxNewTokens-1 {
			break
		}
		for i := range B {
			pos[i] = lens[i] + step
		}
		m.decode(tp, toks, pos, cache, logits)
	}
	return out, nil
}

// prefill runs the right-padded prompts (B, Tp) through the model, stores
// every layer's keys and values in the cache and writes the logits at each
// row's last prompt token into logits (B, V).
func (m *Model) prefill(tp *ag.Tape, prompts [][]int, lens []int, cache *kvCache, logits []float32) {
	defer tp.Reset()
	B, C := len(prompts), m.Config.NEmbd
	ids, T, _ := PadRight(prompts)
	g := m.GPT
	posIDs := make([]int, T)
	for i := range posIDs {
		posIDs[i] = i
	}
	x := tp.Add(tp.Reshape(g.Wte.Forward(tp, ids), B, T, C), g.Wpe.Forward(tp, posIDs)) // (B, T, C)
	for l, blk := range g.H {
		qkv := blk.Attn.CAttn.Forward(tp, blk.Ln1.Forward(tp, x)) // (B, T, 3C)
		q := qkv.Value.Data
		for b := range B {
			for t := range min(T, cache.tmax) {
				src := q[(b*T+t)*3*C:]
				dst := (b*cache.tmax + t) * C
				copy(cache.k[l][dst:dst+C], src[C:2*C])
				copy(cache.v[l][dst:dst+C], src[2*C:3*C])
			}
		}
		x = tp.Add(x, blk.Attn.CProj.Forward(tp, tp.Attention(qkv, blk.Attn.Heads)))
		x = tp.Add(x, blk.MLP.Forward(tp, blk.Ln2.Forward(tp, x)))
	}
	h := g.LnF.Forward(tp, x) // (B, T, C)
	last := make([]int, B)
	for b := range B {
		last[b] = b*T + lens[b] - 1
	}
	hl := tp.Embedding(tp.Reshape(h, B*T, C), last) // (B, C): gathers each row's last position
	copy(logits, m.Logits(tp, hl).Value.Data)
}

// decode feeds one new token per row, toks[b] at position pos[b], appends
// its key and value to the cache, attends over the row's cached positions
// 0..pos[b] and writes the next-token logits into logits (B, V).
func (m *Model) decode(tp *ag.Tape, toks, pos []int, cache *kvCache, logits []float32) {
	defer tp.Reset()
	B, C, H := len(toks), m.Config.NEmbd, m.Config.NHead
	g := m.GPT
	x := tp.Add(g.Wte.Forward(tp, toks), g.Wpe.Forward(tp, pos)) // (B, C)
	att := tensor.New(B, C)
	n := make([]int, B) // keys each row attends over
	for b := range B {
		n[b] = pos[b] + 1
	}
	for l, blk := range g.H {
		qkv := blk.Attn.CAttn.Forward(tp, blk.Ln1.Forward(tp, x)).Value.Data // (B, 3C)
		for b := range B {
			row := qkv[b*3*C : (b+1)*3*C]
			base := b * cache.tmax * C
			copy(cache.k[l][base+pos[b]*C:base+n[b]*C], row[C:2*C])
			copy(cache.v[l][base+pos[b]*C:base+n[b]*C], row[2*C:])
		}
		// Each row's query against its cached keys and values, every row
		// and head in one pass (AttentionQKV's arithmetic, to the bit).
		ag.AttentionDecode(att.Data, qkv, 3*C, cache.k[l], cache.v[l], cache.tmax*C, n, C, H) // (B, C)
		x = tp.Add(x, blk.Attn.CProj.Forward(tp, ag.Const(att)))
		x = tp.Add(x, blk.MLP.Forward(tp, blk.Ln2.Forward(tp, x)))
	}
	copy(logits, m.Logits(tp, g.LnF.Forward(tp, x)).Value.Data)
}

// drawGrain is the fewest rows a goroutine draws tokens for.
const drawGrain = 8

// sampler draws tokens from logit rows, reusing its scratch buffers.
type sampler struct {
	z   []float64 // scaled logits
	e   []float64 // exp(z - max z), without top-k or top-p
	idx []int     // candidate ids, most likely first once sorted
}

func newSampler(v int) *sampler {
	return &sampler{z: make([]float64, v), e: make([]float64, v), idx: make([]int, v)}
}

// draw picks a token from one row of logits (V) and returns it with its
// log-probability under the distribution it was drawn from.
func (s *sampler) draw(logits []float32, cfg SampleConfig, r *rand.Rand) (int, float32) {
	if cfg.Temperature == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best, 0
	}
	V := len(logits)
	z := s.z[:V]
	inv := 1 / cfg.Temperature
	// Rounding is monotonic and inv > 0, so the largest z is the largest
	// logit times inv, exactly; the vector max over float32 costs a
	// fraction of a max over the float64 z (whose NaN and signed-zero
	// rules make it slow).
	zmax := float64(tensor.MaxOf(logits)) * inv
	for i, v := range logits {
		z[i] = float64(v) * inv
	}
	var sum float64
	var u float64
	var pick int
	cand := s.idx[:V]
	if cfg.TopK > 0 && cfg.TopK < V || cfg.TopP > 0 && cfg.TopP < 1 {
		for i := range cand {
			cand[i] = i
		}
		cand, sum = topCandidates(z, cand, zmax, cfg.TopK, cfg.TopP)
		u = r.Float64() * sum
		pick = cand[len(cand)-1] // if rounding leaves u >= 0 after the last
		for _, i := range cand {
			u -= math.Exp(z[i] - zmax)
			if u < 0 {
				pick = i
				break
			}
		}
	} else {
		// Every token is a candidate, in id order: each exp once.
		e := s.e[:V]
		tensor.ExpSubF64(e, z, zmax) // math.Exp's values, bit for bit, four at a time
		for _, ei := range e {
			sum += ei
		}
		u = r.Float64() * sum
		pick = V - 1
		for i, ei := range e {
			u -= ei
			if u < 0 {
				pick = i
				break
			}
		}
	}
	return pick, float32(z[pick] - zmax - math.Log(sum))
}

// topCandidates returns the tokens that survive top-k (k > 0) and then
// top-p (0 < p < 1) filtering, most likely first (ties: lower id first),
// with the sum of their exp(z - zmax). With top-k (k < V) it is topK;
// otherwise it orders cand as a max-heap on z and pops only as many tokens
// as top-p keeps: O(V + kept·log V).
func topCandidates(z []float64, cand []int, zmax float64, k int, p float64) ([]int, float64) {
	less := func(a, b int) bool { // a ranks below b
		if z[a] != z[b] {
			return z[a] < z[b]
		}
		return a > b
	}
	n := len(cand)
	if k > 0 && k < n {
		return topK(z, cand, zmax, k, p, less)
	}
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && less(cand[c], cand[c+1]) {
				c++
			}
			if !less(cand[i], cand[c]) {
				return
			}
			cand[i], cand[c] = cand[c], cand[i]
			i = c
		}
	}
	for i := n/2 - 1; i >= 0; i-- {
		down(i, n)
	}
	// total is the mass the top-p threshold is taken of: all tokens without
	// top-k, else the k kept ones (known only after popping them).
	var total float64
	limit := n
	if k > 0 && k < n {
		limit = k
	} else {
		for _, v := range z {
			total += math.Exp(v - zmax)
		}
	}
	// Pop the best tokens into cand[n-1], cand[n-2], ...
	var acc float64
	kept := 0
	for kept < limit {
		top := cand[0]
		last := n - 1 - kept
		cand[0], cand[last] = cand[last], top
		down(0, last)
		kept++
		acc += math.Exp(z[top] - zmax)
		if k <= 0 && p > 0 && p < 1 && acc >= p*total {
			break
		}
	}
	out := cand[n-kept:]
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 { // most likely first
		out[i], out[j] = out[j], out[i]
	}
	if k > 0 && p > 0 && p < 1 { // top-p within the k kept
		total, acc = acc, 0
		for i, t := range out {
			acc += math.Exp(z[t] - zmax)
			if acc >= p*total {
				out = out[:i+1]
				break
			}
		}
	}
	var sum float64
	for _, t := range out {
		sum += math.Exp(z[t] - zmax)
	}
	return out, sum
}

// topK is topCandidates for 0 < k < len(cand): one pass over cand keeps the
// k best in a min-heap in cand[:k] (most candidates cost one comparison
// with its root), which is then sorted most likely first and cut by top-p.
func topK(z []float64, cand []int, zmax float64, k int, p float64, less func(a, b int) bool) ([]int, float64) {
	h := cand[:k]
	down := func(i, n int) { // min-heap: the lowest ranked at the root
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && less(h[c+1], h[c]) {
				c++
			}
			if !less(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i, k)
	}
	for _, t := range cand[k:] {
		if less(h[0], t) {
			h[0] = t
			down(0, k)
		}
	}
	// Pop the lowest ranked to the back: h ends most likely first.
	for last := k - 1; last > 0; last-- {
		h[0], h[last] = h[last], h[0]
		down(0, last)
	}
	out := h
	var sum float64
	if p > 0 && p < 1 {
		var total float64
		for _, t := range out {
			total += math.Exp(z[t] - zmax)
		}
		var acc float64
		for i, t := range out {
			acc += math.Exp(z[t] - zmax)
			if acc >= p*total {
				out = out[:i+1]
				break
			}
		}
	}
	for _, t := range out {
		sum += math.Exp(z[t] - zmax)
	}
	return out, sum
}
