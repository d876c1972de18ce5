// Package tensor holds dense float32 tensors and the CPU kernels that every
// model in rlhf runs on: GEMM, element-wise loops and a worker pool.
//
// Tensors are row-major and contiguous. Views that share storage (Reshape)
// are allowed; transposes are materialised by kernels, not by strides.
package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Tensor is a dense, row-major float32 array.
type Tensor struct {
	Data  []float32
	Shape []int
}

// Numel returns the number of elements a tensor of this shape holds.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Data: make([]float32, Numel(shape)), Shape: append([]int(nil), shape...)}
}

// FromSlice wraps data (not copied) as a tensor of the given shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	if Numel(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values do not fit shape %v", len(data), shape))
	}
	return &Tensor{Data: data, Shape: append([]int(nil), shape...)}
}

// Full returns a tensor of the given shape filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Randn returns a tensor of N(0, std²) values drawn from r.
func Randn(r *rand.Rand, std float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64()) * std
	}
	return t
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Dims returns the number of dimensions.
func (t *Tensor) Dims() int { return len(t.Shape) }

// Dim returns the size of dimension i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Data: append([]float32(nil), t.Data...), Shape: append([]int(nil), t.Shape...)}
}

// Reshape returns a view with a new shape over the same data. One dimension
// may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				panic("tensor: reshape with more than one -1")
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 {
		if known == 0 || len(t.Data)%known != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
		}
		shape[infer] = len(t.Data) / known
	}
	if Numel(shape) != len(t.Data) {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Data: t.Data, Shape: shape}
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// String gives a short description, not the values.
func (t *Tensor) String() string { return fmt.Sprintf("Tensor%v", t.Shape) }

// MaxAbsDiff returns max |a-b| over elements; the shapes must match.
func MaxAbsDiff(a, b *Tensor) float64 {
	if !SameShape(a.Shape, b.Shape) {
		panic(fmt.Sprintf("tensor: MaxAbsDiff of %v and %v", a.Shape, b.Shape))
	}
	m := 0.0
	for i := range a.Data {
		d := math.Abs(float64(a.Data[i]) - float64(b.Data[i]))
		if d > m || d != d {
			m = d
		}
	}
	return m
}
