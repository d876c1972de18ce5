package reward

import (
	"fmt"

	"rlhf/ag"
	"rlhf/nn"
	"rlhf/optim"
	"rlhf/tensor"
)

// Model is a reward model as the losses and the training step see it: it
// scores a batch of items (control segments, text completions) with one
// summed reward each. B is the model's batch type: [*Steps] for the control
// [MLP]; a token batch for a GPT reward model.
type Model[B any] interface {
	// Score returns one reward per item of batch: (N).
	Score(tp *ag.Tape, batch B) *ag.Var
	// Params returns the trainable parameters with their checkpoint names.
	Params() []nn.NamedParam
}

// ComparisonLoss scores batch, which holds N·K items comparison-major (the
// K items of comparison n are items n·K .. n·K+K-1), and returns the
// [PreferenceLoss] of the scores against targets (N, K), and the scores
// reshaped (N, K).
func ComparisonLoss[B any](tp *ag.Tape, m Model[B], batch B, targets *tensor.Tensor, eps float32) (loss, scores *ag.Var) {
	if len(targets.Shape) != 2 {
		panic(fmt.Sprintf("reward: ComparisonLoss targets %v, want (N, K)", targets.Shape))
	}
	s := m.Score(tp, batch)
	// The shape's element count, not Value.Len(): a traced Var (package
	// xla) has a shape but no data.
	if n := tensor.Numel(s.Value.Shape); n != targets.Len() {
		panic(fmt.Sprintf("reward: model scored %d items for targets %v", n, targets.Shape))
	}
	scores = tp.Reshape(s, targets.Shape...)
	return PreferenceLoss(tp, scores, targets, eps), scores
}

// L2Penalty returns coef·Σ‖W‖² over the weight matrices (rank >= 2) among
// params, biases excluded: (1).
func L2Penalty(tp *ag.Tape, params []nn.NamedParam, coef float32) *ag.Var {
	var sum *ag.Var
	for _, p := range params {
		if len(p.P.Value.Shape) < 2 {
			continue
		}
		sq := tp.SumAll(tp.Square(p.P))
		if sum == nil {
			sum = sq
		} else {
			sum = tp.Add(sum, sq)
		}
	}
	if sum == nil {
		return ag.Const(tensor.New(1))
	}
	return tp.Scale(sum, coef)
}

// StepConfig holds the settings of one optimisation step.
type StepConfig struct {
	LR       float32 // Adam learning rate
	Eps      float32 // random-answer probability of the choice model (see PreferenceLoss)
	L2       float32 // coefficient of L2Penalty; 0 for none
	ClipNorm float64 // global gradient-norm limit; 0 for none
}

// Group is one part of a minibatch: comparisons with the same number of
// items, as a model batch and its targets (N, K).
type Group[B any] struct {
	Batch   B
	Targets *tensor.Tensor // (N, K)
}

// TrainStep takes one optimisation step of m on the comparisons in groups
// (typically one group; several when comparisons with different numbers of
// items share a minibatch): it resets tp, forms the mean preference loss
// over all comparisons plus the L2 penalty, back-propagates, clips and
// updates through opt. It returns the data loss (without the penalty).
func TrainStep[B any](tp *ag.Tape, m Model[B], opt *optim.AdamW, groups []Group[B], c StepConfig) float64 {
	tp.Reset()
	total := 0
	for _, g := range groups {
		total += g.Targets.Shape[0]
	}
	if total == 0 {
		return 0
	}
	params := m.Params()
	var loss *ag.Var
	for _, g := range groups {
		l, _ := ComparisonLoss(tp, m, g.Batch, g.Targets, c.Eps)
		l = tp.Scale(l, float32(g.Targets.Shape[0])/float32(total))
		if loss == nil {
			loss = l
		} else {
			loss = tp.Add(loss, l)
		}
	}
	data := float64(loss.Item())
	if c.L2 > 0 {
		loss = tp.Add(loss, L2Penalty(tp, params, c.L2))
	}
	opt.ZeroGrad()
	tp.Backward(loss)
	if c.ClipNorm > 0 {
		optim.ClipGradNorm(params, c.ClipNorm)
	}
	opt.Step(c.LR)
	tp.Reset()
	return data
}
