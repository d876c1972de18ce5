package text

import (
	"container/heap"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// TrainOptions tunes Train.
type TrainOptions struct {
	// MinFrequency stops training early when the most frequent pair occurs
	// fewer times than this, so no rule is learned from a one-off.
	// Zero means 2.
	MinFrequency int
}

// Train learns a byte-level BPE vocabulary of at most vocabSize tokens from
// texts: 256 byte tokens, then one merge rule at a time, then <|endoftext|>
// as the last id. Texts are split into pieces as GPT-2 does (pieces never
// merge across), the pieces are counted, and each step merges the adjacent
// pair that occurs most often, weighted by piece counts; ties go to the pair
// with the smaller ids. Pair counts are updated only in the pieces that hold
// the merged pair, so a step costs time in proportion to those pieces.
// Training stops early if no pair occurs MinFrequency times.
func Train(texts iter.Seq[string], vocabSize int, opts TrainOptions) (*Tokenizer, error) {
	if vocabSize < 257 {
		return nil, fmt.Errorf("text: train: vocab size %d, want at least 257 (256 bytes and %s)", vocabSize, EndOfText)
	}
	minFreq := int64(opts.MinFrequency)
	if minFreq <= 0 {
		minFreq = 2
	}

	// Count pieces.
	counts := make(map[string]int64)
	for s := range texts {
		pieces(s, func(p string) bool {
			if c, ok := counts[p]; ok {
				counts[p] = c + 1
			} else {
				counts[strings.Clone(p)] = 1
			}
			return true
		})
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	words := make([]trainWord, len(keys))
	for i, k := range keys {
		syms := make([]int32, len(k))
		for j := 0; j < len(k); j++ {
			syms[j] = int32(k[j])
		}
		words[i] = trainWord{syms: syms, n: counts[k]}
	}
	counts = nil

	t := &Tokenizer{merges: make(map[uint64]merge)}
	index := make(map[string]int32) // token bytes -> id
	for b := range 256 {
		t.byteID[b] = int32(b)
		t.vocab = append(t.vocab, []byte{byte(b)})
		index[string([]byte{byte(b)})] = int32(b)
	}

	// Pair counts, the pieces each pair occurs in (may hold stale or repeated
	// entries, checked when used), and a max-heap with lazy deletion.
	pairN := make(map[uint64]int64)
	where := make(map[uint64][]int32)
	for wi, w := range words {
		for i := 0; i+1 < len(w.syms); i++ {
			k := pairKey(w.syms[i], w.syms[i+1])
			pairN[k] += w.n
			if ws := where[k]; len(ws) == 0 || ws[len(ws)-1] != int32(wi) {
				where[k] = append(ws, int32(wi))
			}
		}
	}
	h := make(pairHeap, 0, len(pairN))
	for k, n := range pairN {
		h = append(h, pairCount{k, n})
	}
	heap.Init(&h)

	stamp := make([]int32, len(words)) // last step that touched each word, plus one
	changed := make(map[uint64]struct{})
	for step := int32(1); len(t.vocab) < vocabSize-1 && h.Len() > 0; {
		top := heap.Pop(&h).(pairCount)
		if n, ok := pairN[top.key]; !ok || n != top.n {
			continue // stale entry
		}
		if top.n < minFreq {
			break
		}
		a, b := int32(top.key>>32), int32(uint32(top.key))
		var id int32
		if m, ok := t.merges[top.key]; ok {
			// The pair has a rule already and has formed again around a token
			// that a later rule re-created; encoding applies the old rule to it
			// too, so merge it without a new rule.
			id = m.id
		} else {
			tokBytes := append(slices.Clone(t.vocab[a]), t.vocab[b]...)
			var exists bool
			id, exists = index[string(tokBytes)]
			if !exists {
				id = int32(len(t.vocab))
				t.vocab = append(t.vocab, tokBytes)
				index[string(tokBytes)] = id
			}
			t.merges[top.key] = merge{rank: int32(len(t.ranked)), id: id}
			t.ranked = append(t.ranked, [2]int32{a, b})
		}

		clear(changed)
		for _, wi := range where[top.key] {
			if stamp[wi] == step {
				continue
			}
			stamp[wi] = step
			w := &words[wi]
			if !hasPair(w.syms, a, b) {
				continue
			}
			for i := 0; i+1 < len(w.syms); i++ {
				k := pairKey(w.syms[i], w.syms[i+1])
				pairN[k] -= w.n
				changed[k] = struct{}{}
			}
			out := 0
			for r := 0; r < len(w.syms); {
				if r+1 < len(w.syms) && w.syms[r] == a && w.syms[r+1] == b {
					w.syms[out] = id
					r += 2
				} else {
					w.syms[out] = w.syms[r]
					r++
				}
				out++
			}
			w.syms = w.syms[:out]
			for i := 0; i+1 < len(w.syms); i++ {
				x, y := w.syms[i], w.syms[i+1]
				k := pairKey(x, y)
				pairN[k] += w.n
				changed[k] = struct{}{}
				if x == id || y == id {
					where[k] = append(where[k], wi)
				}
			}
		}
		delete(where, top.key)
		for k := range changed {
			n := pairN[k]
			if n <= 0 {
				delete(pairN, k)
				continue
			}
			heap.Push(&h, pairCount{k, n})
		}
		step++
	}

	t.eot = int32(len(t.vocab))
	t.vocab = append(t.vocab, []byte(EndOfText))
	t.special = make([]bool, len(t.vocab))
	t.special[t.eot] = true
	return t, nil
}

type trainWord struct {
	syms []int32 // current symbols
	n    int64   // occurrences of the piece in the corpus
}

func hasPair(syms []int32, a, b int32) bool {
	for i := 0; i+1 < len(syms); i++ {
		if syms[i] == a && syms[i+1] == b {
			return true
		}
	}
	return false
}

type pairCount struct {
	key uint64
	n   int64
}

// pairHeap is a max-heap on count; ties go to the smaller key (smaller ids).
type pairHeap []pairCount

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].n != h[j].n {
		return h[i].n > h[j].n
	}
	return h[i].key < h[j].key
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
