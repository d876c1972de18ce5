package reward

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"rlhf/ag"
	"rlhf/tensor"
)

// shapeSpy is a tracer that runs every op on a CPU no-grad tape and
// records the shape of each TakeAlongLast input: the (N, T) per-token
// rewards that GPTNet.Score reads each row's last real token from.
type shapeSpy struct {
	*ag.Tape
	shapes [][]int
}

func (s *shapeSpy) TakeAlongLast(x *ag.Var, idx []int) *ag.Var {
	s.shapes = append(s.shapes, append([]int(nil), x.Value.Shape...))
	return s.Tape.TakeAlongLast(x, idx)
}

// fakeDevice is an Evaluator that runs the closures on the CPU engine, as
// a device would run them on its own backend, and records the (N, T) of
// each forward pass.
type fakeDevice struct {
	bucket int   // PadLen rounds up to a multiple of it (0: no padding)
	fail   error // returned by Forward when set
	short  bool  // Forward drops the last score
	passes [][]int
}

func (d *fakeDevice) Forward(f func(tp *ag.Tape) *ag.Var) (*tensor.Tensor, error) {
	if d.fail != nil {
		return nil, d.fail
	}
	spy := &shapeSpy{Tape: ag.NewNoGradTape()}
	out := f(ag.NewTracingTape(spy)).Value.Clone()
	if len(spy.shapes) != 1 {
		return nil, errors.New("fake device: want one TakeAlongLast per scoring pass")
	}
	d.passes = append(d.passes, spy.shapes[0])
	if d.short {
		out.Data = out.Data[:len(out.Data)-1]
		out.Shape = []int{len(out.Data)}
	}
	return out, nil
}

func (d *fakeDevice) PadLen(t, limit int) int {
	if d.bucket == 0 {
		return t
	}
	return max(t, min((t+d.bucket-1)/d.bucket*d.bucket, limit))
}

// deviceRows returns prompts and completions whose rows (prompt +
// completion) have the given lengths; a length over the model's 32
// positions is cut to 32 by Row.
func deviceRows(rng *rand.Rand, lens []int) (prompts, completions [][]int) {
	for _, n := range lens {
		row := make([]int, n)
		for i := range row {
			row[i] = rng.IntN(64)
		}
		cut := n / 3
		prompts = append(prompts, row[:cut])
		completions = append(completions, row[cut:])
	}
	return prompts, completions
}

// TestGPTRewardScoresOnDevice: with a Device, Score runs every batch
// through it as exactly Batch rows (the last, partial batch topped up with
// filler rows) of a bucketed length, and each score equals the CPU
// engine's within 1e-5 relative.
func TestGPTRewardScoresOnDevice(t *testing.T) {
	r := NewGPT(smallGPT(t, 5), nil, 6)
	r.Norm = Normaliser{Gain: 1.7, Bias: -0.3}
	r.Batch = 4
	rng := rand.New(rand.NewPCG(3, 4))
	// Batches: longest 5 (bucket 16), 20 (bucket 32), 40 cut to 32, and a
	// last batch of two rows, longest 9 (bucket 16).
	lens := []int{3, 5, 1, 4, 20, 2, 17, 11, 40, 6, 32, 1, 9, 7}
	prompts, completions := deviceRows(rng, lens)
	want, err := r.Score(prompts, completions)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDevice{bucket: 16}
	r.Device = d
	got, err := r.Score(prompts, completions)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d scores on the device, %d on the CPU engine", len(got), len(want))
	}
	spread := 0.0
	for i := range want {
		a, b := float64(want[i]), float64(got[i])
		spread = max(spread, math.Abs(a-float64(want[0])))
		if math.Abs(a-b) > 1e-5*max(1, math.Abs(a)) {
			t.Errorf("row %d (%d tokens): %v on the device, %v on the CPU engine", i, lens[i], b, a)
		}
	}
	if spread < 1e-3 {
		t.Fatalf("scores %v barely vary; the comparison proves nothing", want)
	}
	wantT := []int{16, 32, 32, 16}
	if len(d.passes) != len(wantT) {
		t.Fatalf("%d passes on the device %v, want %d", len(d.passes), d.passes, len(wantT))
	}
	for i, p := range d.passes {
		if len(p) != 2 || p[0] != r.Batch || p[1] != wantT[i] {
			t.Errorf("pass %d scored a batch of shape %v, want (%d, %d)", i, p, r.Batch, wantT[i])
		}
	}

	// Without padding the passes still have Batch rows; the lengths are the
	// batches' own.
	d = &fakeDevice{}
	r.Device = d
	raw, err := r.RawScore(prompts[:7], completions[:7])
	if err != nil {
		t.Fatal(err)
	}
	r.Device = nil
	rawCPU, err := r.RawScore(prompts[:7], completions[:7])
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(rawCPU) || len(raw) != 7 {
		t.Fatalf("%d scores on the device, %d on the CPU engine, for 7 rows", len(raw), len(rawCPU))
	}
	for i := range rawCPU {
		if a, b := float64(rawCPU[i]), float64(raw[i]); math.Abs(a-b) > 1e-5*max(1, math.Abs(a)) {
			t.Errorf("unpadded row %d: %v on the device, %v on the CPU engine", i, b, a)
		}
	}
	if len(d.passes) != 2 || d.passes[0][0] != 4 || d.passes[0][1] != 5 || d.passes[1][0] != 4 || d.passes[1][1] != 20 {
		t.Errorf("unpadded passes %v, want [[4 5] [4 20]]", d.passes)
	}

	// Nothing to score: no pass.
	d = &fakeDevice{bucket: 16}
	r.Device = d
	if s, err := r.Score(nil, nil); err != nil || len(s) != 0 || len(d.passes) != 0 {
		t.Errorf("no rows: %v, %v, %d passes", s, err, len(d.passes))
	}
}

// TestGPTRewardDeviceErrors: a failing device, or one that returns the
// wrong number of scores, fails Score with the rows it was scoring, and a
// bad row fails before any pass.
func TestGPTRewardDeviceErrors(t *testing.T) {
	r := NewGPT(smallGPT(t, 5), nil, 6)
	r.Batch = 4
	prompts, completions := deviceRows(rand.New(rand.NewPCG(5, 6)), []int{3, 8, 2, 5, 6})
	boom := errors.New("out of device memory")
	r.Device = &fakeDevice{fail: boom}
	_, err := r.Score(prompts, completions)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reward: score rows 0 to 3 on the device") {
		t.Errorf("failing device: %v", err)
	}
	r.Device = &fakeDevice{short: true}
	_, err = r.RawScore(prompts, completions)
	if err == nil || !strings.Contains(err.Error(), "3 scores for a batch of 4 rows") {
		t.Errorf("short device: %v", err)
	}
	d := &fakeDevice{}
	r.Device = d
	err = r.Normalise([][]int{{1, 2}}, [][]int{{64}})
	if err == nil || !strings.Contains(err.Error(), "outside the vocabulary") || len(d.passes) != 0 {
		t.Errorf("bad token id: %v after %d passes", err, len(d.passes))
	}
}
