package xla

import (
	"slices"
	"sync"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph ops read like the math they build
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26 differentiates DotGeneral by broadcasting the output's
// gradient against the other operand and summing (Mul, then ReduceSum): for
// a (M, K) x (K, N) product that materialises an M x K x N tensor per
// operand, which XLA then runs as a reduction, not as a matrix product. The
// tiny GPT's step had twelve 2048 x 4096 x 128 such values (4 GiB each).
// The products this package builds are differentiated instead by two more
// DotGenerals, as the CPU engine does, through GoMLX's VJP table (which it
// documents as replaceable). GoMLX's own rule stays for DotGeneral nodes not
// built by dot (none in this package's graphs).

// dotAxes are the axes a DotGeneral node was built with.
type dotAxes struct{ lc, lb, rc, rb []int }

var (
	dotMu     sync.Mutex
	dotByNode = map[*Node]dotAxes{}
	gomlxDot  VJP // GoMLX's rule, for DotGeneral nodes not built by dot
)

func init() {
	gomlxDot = VJPRegistration[NodeTypeDotGeneral]
	VJPRegistration[NodeTypeDotGeneral] = dotVJP
}

// dot is DotGeneral, remembered for its gradient until forgetDots(g).
func dot(lhs *Node, lc, lb []int, rhs *Node, rc, rb []int) *Node {
	o := DotGeneral(lhs, lc, lb, rhs, rc, rb)
	dotMu.Lock()
	dotByNode[o] = dotAxes{slices.Clone(lc), slices.Clone(lb), slices.Clone(rc), slices.Clone(rb)}
	dotMu.Unlock()
	return o
}

// forgetDots drops what dot remembered of g's nodes (after its gradient was
// built, or when it is abandoned).
func forgetDots(g *Graph) {
	dotMu.Lock()
	defer dotMu.Unlock()
	for n := range dotByNode {
		if n.Graph() == g {
			delete(dotByNode, n)
		}
	}
}

// dotVJP returns the gradients of a DotGeneral's operands as DotGenerals of
// the output gradient v with the other operand. The output's axes are
// (batch, lhs free, rhs free); each gradient is a product contracting v
// with the other operand over that operand's free axes, transposed back to
// its operand's axis order.
func dotVJP(node *Node, vs []*Node, s shapes.Shape) []*Node {
	dotMu.Lock()
	ax, ok := dotByNode[node]
	dotMu.Unlock()
	if !ok {
		return gomlxDot(node, vs, s)
	}
	v := vs[0]
	in := node.Inputs()
	lhs, rhs := in[0], in[1]
	lf, rf := freeAxes(lhs.Rank(), ax.lc, ax.lb), freeAxes(rhs.Rank(), ax.rc, ax.rb)
	nb := len(ax.lb)
	vb, vl, vr := span(0, nb), span(nb, len(lf)), span(nb+len(lf), len(rf))

	// d lhs: (batch, lhs free, rhs contracted axes in increasing order).
	gl := DotGeneral(v, vr, vb, rhs, rf, ax.rb)
	src := make([]int, lhs.Rank())
	for j, a := range ax.lb {
		src[a] = j
	}
	for j, a := range lf {
		src[a] = nb + j
	}
	for j, r := range sorted(ax.rc) {
		src[ax.lc[slices.Index(ax.rc, r)]] = nb + len(lf) + j
	}
	gl = transposeTo(gl, src)

	// d rhs: (batch, lhs contracted axes in increasing order, rhs free).
	gr := DotGeneral(lhs, lf, ax.lb, v, vl, vb)
	src = make([]int, rhs.Rank())
	for j, a := range ax.rb {
		src[a] = j
	}
	for j, l := range sorted(ax.lc) {
		src[ax.rc[slices.Index(ax.lc, l)]] = nb + j
	}
	for j, a := range rf {
		src[a] = nb + len(ax.lc) + j
	}
	gr = transposeTo(gr, src)
	return []*Node{gl, gr}
}

// freeAxes are the axes of a rank-r operand that are neither contracted nor batch.
func freeAxes(r int, contracting, batch []int) []int {
	var f []int
	for a := range r {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			f = append(f, a)
		}
	}
	return f
}

// span returns from, from+1, ..., from+n-1.
func span(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

func sorted(a []int) []int {
	s := slices.Clone(a)
	slices.Sort(s)
	return s
}

// transposeTo returns x with axis i taken from x's axis src[i] (x itself
// when src is the identity).
func transposeTo(x *Node, src []int) *Node {
	for i, a := range src {
		if i != a {
			return TransposeAllAxes(x, src...)
		}
	}
	return x
}
