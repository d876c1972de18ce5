//go:build xla

package xla

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/nn"
)

// TestStableHLOProgram reads the program an XLA device would compile for a
// GPT training step: every matrix product of the forward pass has its two
// gradient products (three dot_generals per product, none spelled as a
// broadcast multiply and a sum), and no value is larger than the largest
// activation or weight.
func TestStableHLOProgram(t *testing.T) {
	cfg := nn.GPTConfig{Vocab: 97, Ctx: 16, Layers: 2, Heads: 4, Dim: 32}
	const batch = 3
	tr, m := gptTrainer(t, cfg)
	ids := make([]int, batch*cfg.Ctx)
	for i := range ids {
		ids[i] = (7 * i) % cfg.Vocab
	}
	text, err := tr.StableHLO(func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, cfg.Ctx, -1) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "module @") || !strings.Contains(text, "func.func @main(") {
		t.Fatalf("not a StableHLO module: %.200q", text)
	}
	// Forward products: per layer qkv, scores, values, projection, two MLP; then the LM head.
	forward := 6*cfg.Layers + 1
	if n := strings.Count(text, `"stablehlo.dot_general"`); n != 3*forward {
		t.Errorf("%d dot_generals, want %d (forward and two gradients of %d products)", n, 3*forward, forward)
	}
	largest, what := 0, ""
	for _, s := range regexp.MustCompile(`tensor<((?:\d+x)+)f32>`).FindAllStringSubmatch(text, -1) {
		n := 1
		for _, d := range strings.Split(strings.TrimSuffix(s[1], "x"), "x") {
			v, _ := strconv.Atoi(d)
			n *= v
		}
		if n > largest {
			largest, what = n, s[0]
		}
	}
	if lim := LargestStepValue(cfg, batch); largest > lim {
		t.Errorf("largest value %s (%d elements), want <= %d", what, largest, lim)
	}
	// Twice in a row, and the Trainer still builds on its own device.
	again, err := tr.StableHLO(func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, cfg.Ctx, -1) })
	if err != nil || again != text {
		t.Fatalf("second dump differs (err %v)", err)
	}
	if _, _, err := tr.Step(1e-3, func(tp *ag.Tape) *ag.Var { return m.Loss(tp, ids, ids, batch, cfg.Ctx, -1) }); err != nil {
		t.Fatal(err)
	}
}
