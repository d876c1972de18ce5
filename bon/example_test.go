package bon_test

import (
	"fmt"

	"rlhf/bon"
)

func ExampleKL() {
	for _, n := range []int{1, 2, 4, 16, 64} {
		fmt.Printf("best-of-%d: %.3f nats\n", n, bon.KL(n))
	}
	// Output:
	// best-of-1: 0.000 nats
	// best-of-2: 0.193 nats
	// best-of-4: 0.636 nats
	// best-of-16: 1.835 nats
	// best-of-64: 3.175 nats
}
