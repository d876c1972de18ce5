package text

import "container/heap"

// longPiece is the piece length (bytes) from which bpe switches to bpeLong.
// The simple loop costs O(len * merges applied); a piece of a million letters
// with no space, which any user can send, would take minutes.
const longPiece = 64

// bpeLong gives the same result as the simple loop in bpe in O(n log n): the
// symbols form a linked list, and a heap holds each adjacent pair that has a
// rule, ordered by rank then position. Each round takes every entry of the
// lowest rank present (one pair) in position order and merges those still
// valid, left to right, exactly as GPT-2's loop merges all occurrences of its
// best pair; pairs formed in a round enter the heap after it.
func (t *Tokenizer) bpeLong(p string, out []int32) []int32 {
	n := len(p)
	if n == 0 {
		return out
	}
	syms := make([]int32, n)
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := 0; i < n; i++ {
		syms[i] = t.byteID[p[i]]
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
	}
	next[n-1] = -1
	h := make(rankHeap, 0, n)
	for i := 0; i+1 < n; i++ {
		if m, ok := t.merges[pairKey(syms[i], syms[i+1])]; ok {
			h = append(h, rankEntry{m.rank, int32(i)})
		}
	}
	heap.Init(&h)
	valid := func(e rankEntry) (int32, bool) {
		q := next[e.pos]
		if syms[e.pos] < 0 || q < 0 {
			return 0, false
		}
		m, ok := t.merges[pairKey(syms[e.pos], syms[q])]
		if !ok || m.rank != e.rank {
			return 0, false
		}
		return m.id, true
	}
	var pending []rankEntry
	for h.Len() > 0 {
		rank := h[0].rank
		pending = pending[:0]
		for h.Len() > 0 && h[0].rank == rank {
			e := heap.Pop(&h).(rankEntry)
			id, ok := valid(e)
			if !ok {
				continue
			}
			// Merge e.pos with its successor.
			q := next[e.pos]
			syms[e.pos] = id
			syms[q] = -1
			next[e.pos] = next[q]
			if next[q] >= 0 {
				prev[next[q]] = e.pos
			}
			if l := prev[e.pos]; l >= 0 {
				if m, ok := t.merges[pairKey(syms[l], id)]; ok {
					pending = append(pending, rankEntry{m.rank, l})
				}
			}
			if r := next[e.pos]; r >= 0 {
				if m, ok := t.merges[pairKey(id, syms[r])]; ok {
					pending = append(pending, rankEntry{m.rank, e.pos})
				}
			}
		}
		for _, e := range pending {
			heap.Push(&h, e)
		}
	}
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type rankEntry struct {
	rank int32 // rule rank of the pair starting at pos
	pos  int32 // index of the pair's left symbol
}

// rankHeap is a min-heap on (rank, pos).
type rankHeap []rankEntry

func (h rankHeap) Len() int { return len(h) }
func (h rankHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}
func (h rankHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *rankHeap) Push(x any)   { *h = append(*h, x.(rankEntry)) }
func (h *rankHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
