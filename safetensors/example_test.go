package safetensors_test

import (
	"bytes"
	"fmt"

	"rlhf/safetensors"
	"rlhf/tensor"
)

func Example() {
	var buf bytes.Buffer
	err := safetensors.Write(&buf, map[string]*tensor.Tensor{
		"wte.weight": tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2),
		"ln_f.bias":  tensor.FromSlice([]float32{0.5, -0.5}, 2),
	}, map[string]string{"format": "pt"})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := safetensors.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range f.Names() {
		t := f.Tensors[name]
		fmt.Println(name, f.DTypes[name], t.Shape, t.Data)
	}
	fmt.Println(f.Metadata["format"])
	// Output:
	// ln_f.bias F32 [2] [0.5 -0.5]
	// wte.weight F32 [3 2] [1 2 3 4 5 6]
	// pt
}

func ExampleReadHeader() {
	var buf bytes.Buffer
	safetensors.Write(&buf, map[string]*tensor.Tensor{"h.0.attn.c_attn.weight": tensor.New(4, 12)}, nil)
	h, err := safetensors.ReadHeader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range h.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape, t.Begin, t.End)
	}
	// Output:
	// h.0.attn.c_attn.weight F32 [4 12] 0 192
}

func ExampleF16ToFloat32() {
	fmt.Println(safetensors.F16ToFloat32(0x3c00), safetensors.F16ToFloat32(0x7bff), safetensors.BF16ToFloat32(0x4049))
	// Output: 1 65504 3.140625
}
