package ag_test

import (
	"fmt"

	"rlhf/ag"
	"rlhf/tensor"
)

// Fit y = 2x with one weight: record the loss on a tape, run Backward, read
// the gradient, Reset the tape for the next step.
func Example() {
	w := ag.NewParam(tensor.FromSlice([]float32{0.5}, 1, 1))
	x := ag.Const(tensor.FromSlice([]float32{1, 2, 3}, 3, 1))
	y := ag.Const(tensor.FromSlice([]float32{2, 4, 6}, 3, 1))
	tp := ag.NewTape()
	for step := 0; step < 3; step++ {
		w.ZeroGrad()
		diff := tp.Sub(tp.MatMul(x, w, false, false), y) // (3, 1)
		loss := tp.MeanAll(tp.Square(diff))              // (1)
		tp.Backward(loss)
		fmt.Printf("loss %.3f grad %.3f\n", loss.Item(), w.Grad.Data[0])
		w.Value.Data[0] -= 0.1 * w.Grad.Data[0]
		tp.Reset()
	}
	// Output:
	// loss 10.500 grad -14.000
	// loss 0.047 grad -0.933
	// loss 0.000 grad -0.062
}
