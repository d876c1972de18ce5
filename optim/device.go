package optim

import (
	"rlhf/ag"
	"rlhf/tensor"
)

// Evaluator runs forward passes without gradients somewhere other than the
// CPU engine, e.g. on a GPU through package xla, over its own copy of a
// model's parameters. It runs the same ag code as the CPU engine: the
// closures the caller hands it.
type Evaluator interface {
	// Forward evaluates f without gradients and returns its value on the host.
	Forward(f func(tp *ag.Tape) *ag.Var) (*tensor.Tensor, error)
	// PadLen returns the length, from t to limit, to which a batch whose
	// longest row has t tokens is right-padded (t: no padding), so that a
	// compiling device builds one executable per length bucket.
	PadLen(t, limit int) int
}

// Device is an Evaluator that also takes a model's optimiser steps and
// keeps its parameters and AdamW state between them (e.g. an xla.Trainer
// behind a small adapter).
type Device interface {
	Evaluator
	// Step takes one optimiser step of the loss f (1): forward, backward,
	// global gradient-norm clipping and AdamW at learning rate lr, with the
	// clipping limit and AdamW settings the device was built with. It
	// returns the loss before the update and the gradient norm before
	// clipping.
	Step(lr float64, f func(tp *ag.Tape) *ag.Var) (loss, gradNorm float64, err error)
	// Sync copies the device's parameters into their host tensors and, when
	// o is not nil, the AdamW moments and step count into o.
	Sync(o *AdamW) error
}
