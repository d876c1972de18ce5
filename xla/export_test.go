package xla

import "rlhf/nn"

// LargestStepValue is the largest value a training step of a GPT of cfg on
// batch sequences needs: the logits (B·T·V), the attention scores
// (B·H·T·T), the MLP's hidden activations (B·T·4C), the token embedding
// (V·C) or an MLP weight (C·4C). A larger value in a step's graph or
// program means a product was spelled as a broadcast multiply and a sum.
func LargestStepValue(cfg nn.GPTConfig, batch int) int {
	t := cfg.Ctx
	return max(batch*t*cfg.Vocab, batch*cfg.Heads*t*t, batch*t*4*cfg.Dim, cfg.Vocab*cfg.Dim, 4*cfg.Dim*cfg.Dim)
}
