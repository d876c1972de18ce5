package ppo

import (
	"fmt"
	"math"
)

// RunningMeanStd tracks the mean and (population) variance of a stream of
// vectors, merging each batch with Chan et al.'s parallel formula, as gym's
// RunningMeanStd does (count starts at 1e-4, mean 0, variance 1).
type RunningMeanStd struct {
	Mean  []float64 `json:"mean"`
	Var   []float64 `json:"var"`
	Count float64   `json:"count"`
}

// NewRunningMeanStd returns statistics for vectors of length dim.
func NewRunningMeanStd(dim int) *RunningMeanStd {
	r := &RunningMeanStd{Mean: make([]float64, dim), Var: make([]float64, dim), Count: 1e-4}
	for i := range r.Var {
		r.Var[i] = 1
	}
	return r
}

// Update merges a batch x (n, dim), row-major.
func (r *RunningMeanStd) Update(x []float64) {
	d := len(r.Mean)
	n := len(x) / d
	if n == 0 {
		return
	}
	for j := 0; j < d; j++ {
		var m float64
		for i := 0; i < n; i++ {
			m += x[i*d+j]
		}
		m /= float64(n)
		var v float64
		for i := 0; i < n; i++ {
			dv := x[i*d+j] - m
			v += dv * dv
		}
		v /= float64(n)
		delta := m - r.Mean[j]
		tot := r.Count + float64(n)
		r.Mean[j] += delta * float64(n) / tot
		m2 := r.Var[j]*r.Count + v*float64(n) + delta*delta*r.Count*float64(n)/tot
		r.Var[j] = m2 / tot
	}
	r.Count += float64(n)
}

// Normalize writes clip((x - mean)/√(var + 1e-8), ±lim) for x (n, dim) into dst.
func (r *RunningMeanStd) Normalize(x []float64, dst []float32, lim float64) {
	d := len(r.Mean)
	for i, v := range x {
		j := i % d
		z := (v - r.Mean[j]) / math.Sqrt(r.Var[j]+1e-8)
		dst[i] = float32(min(max(z, -lim), lim))
	}
}

// check reports whether r is usable for vectors of length dim.
func (r *RunningMeanStd) check(dim int) error {
	if r == nil || len(r.Mean) != dim || len(r.Var) != dim || !(r.Count > 0) {
		return fmt.Errorf("running statistics do not describe vectors of length %d", dim)
	}
	for j := range r.Var {
		if !(r.Var[j] >= 0) || math.IsInf(r.Var[j], 0) || math.IsNaN(r.Mean[j]) || math.IsInf(r.Mean[j], 0) {
			return fmt.Errorf("running statistics hold a non-finite or negative value at %d", j)
		}
	}
	return nil
}
