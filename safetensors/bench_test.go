package safetensors

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"rlhf/tensor"
)

// benchTensors is 4M float32 values (16 MiB) in a few GPT-shaped tensors.
func benchTensors() map[string]*tensor.Tensor {
	r := rand.New(rand.NewPCG(1, 1))
	return map[string]*tensor.Tensor{
		"wte.weight":             tensor.Randn(r, 0.02, 4096, 512),
		"h.0.attn.c_attn.weight": tensor.Randn(r, 0.02, 512, 1536),
		"h.0.mlp.c_fc.weight":    tensor.Randn(r, 0.02, 512, 2048),
		"h.0.ln_1.bias":          tensor.New(512),
	}
}

func BenchmarkWrite(b *testing.B) {
	ts := benchTensors()
	var buf bytes.Buffer
	Write(&buf, ts, nil)
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		if err := Write(io.Discard, ts, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	var buf bytes.Buffer
	Write(&buf, benchTensors(), nil)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
