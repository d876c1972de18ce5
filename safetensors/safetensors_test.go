package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"rlhf/tensor"
)

// goldenFile is a two-tensor file spelled out byte by byte:
// a = [1, -2] (shape [2]), b = 0.5 (a scalar, shape []), metadata {"k": "v"}.
func goldenFile() []byte {
	header := `{"__metadata__":{"k":"v"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}` +
		"    " // 132 bytes of JSON + 4 spaces = 136, a multiple of 8
	var b []byte
	b = append(b, 136, 0, 0, 0, 0, 0, 0, 0) // header length, u64 little-endian
	b = append(b, header...)
	b = append(b, 0x00, 0x00, 0x80, 0x3f) // a[0] = 1.0
	b = append(b, 0x00, 0x00, 0x00, 0xc0) // a[1] = -2.0
	b = append(b, 0x00, 0x00, 0x00, 0x3f) // b = 0.5
	return b
}

func TestWriteGolden(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, map[string]*tensor.Tensor{
		"b": {Data: []float32{0.5}, Shape: []int{}},
		"a": tensor.FromSlice([]float32{1, -2}, 2),
	}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenFile(); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("Write produced\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

func TestReadGolden(t *testing.T) {
	b := goldenFile()
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("names %v", got)
	}
	if a := f.Tensors["a"]; !reflect.DeepEqual(a.Data, []float32{1, -2}) || !reflect.DeepEqual(a.Shape, []int{2}) {
		t.Fatalf("a = %v %v", a.Data, a.Shape)
	}
	if s := f.Tensors["b"]; !reflect.DeepEqual(s.Data, []float32{0.5}) || len(s.Shape) != 0 {
		t.Fatalf("b = %v %v", s.Data, s.Shape)
	}
	if f.Metadata["k"] != "v" || len(f.Metadata) != 1 {
		t.Fatalf("metadata %v", f.Metadata)
	}
	if f.DTypes["a"] != F32 {
		t.Fatalf("dtype %v", f.DTypes["a"])
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	in := map[string]*tensor.Tensor{
		"wte.weight":             tensor.Randn(r, 1, 7, 5),
		"h.0.attn.c_attn.weight": tensor.Randn(r, 1, 5, 15),
		"h.0.ln_1.bias":          tensor.Randn(r, 1, 5),
		"empty":                  tensor.New(0, 3),
		"odd":                    {Data: []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1))}, Shape: []int{1, 3}},
	}
	meta := map[string]string{"format": "pt", "note": "quotes \" and \\ and \n newlines, ünïcode"}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, in, meta); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if hl := binary.LittleEndian.Uint64(raw); hl%8 != 0 {
		t.Errorf("header length %d is not padded to 8", hl)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
	}
	for name, want := range in {
		got := f.Tensors[name]
		if got == nil {
			t.Fatalf("missing %q", name)
		}
		if !reflect.DeepEqual(got.Shape, want.Shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, want.Shape)
		}
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got.Data[i], want.Data[i])
			}
		}
	}
	// Deterministic: writing again gives identical bytes.
	var b1, b2 bytes.Buffer
	if err := Write(&b1, in, meta); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b2, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) || int64(b1.Len()) != st.Size() {
		t.Error("rewriting a loaded file does not reproduce its bytes")
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint", len(ents))
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	if err := WriteFile(path, map[string]*tensor.Tensor{"x": tensor.Full(1, 3)}, nil); err != nil {
		t.Fatal(err)
	}
	// A failing write must leave the old file intact and no temporary behind.
	err := WriteFile(path, map[string]*tensor.Tensor{"x": {Data: []float32{1}, Shape: []int{2}}}, nil)
	if err == nil {
		t.Fatal("mismatched tensor was written")
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Tensors["x"].Data, []float32{1, 1, 1}) {
		t.Errorf("old file changed: %v", f.Tensors["x"].Data)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in directory, want 1", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.safetensors"), nil, nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestWriteRejects(t *testing.T) {
	cases := map[string]map[string]*tensor.Tensor{
		"nil tensor":     {"a": nil},
		"reserved name":  {"__metadata__": tensor.New(1)},
		"length":         {"a": {Data: make([]float32, 5), Shape: []int{2, 3}}},
		"negative shape": {"a": {Data: nil, Shape: []int{-1, 0}}},
	}
	for name, ts := range cases {
		if err := Write(&bytes.Buffer{}, ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// build assembles a file from a raw header string and n data bytes.
func build(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

func TestReadMalformed(t *testing.T) {
	hugeLen := binary.LittleEndian.AppendUint64(nil, MaxHeaderLen+1)
	pastEnd := binary.LittleEndian.AppendUint64(nil, 100)
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "shorter than", nil},
		{"short prefix", "shorter than", []byte{1, 2, 3}},
		{"header over cap", "exceeds the limit", append(hugeLen, make([]byte, 16)...)},
		{"header past end", "exceeds the", append(pastEnd, "{}"...)},
		{"max u64 length", "exceeds the limit", []byte{255, 255, 255, 255, 255, 255, 255, 255, '{', '}'}},
		{"not json", "not a JSON object", build("hello!!!", 0)},
		{"json array", "not a JSON object", build("[1,2,3] ", 0)},
		{"json null", "null", build("null    ", 0)},
		{"truncated json", "not a JSON object", build(`{"a":{"dtype":"F32"`, 0)},
		{"trailing garbage", "trailing bytes", build(`{} xx`, 0)},
		{"two objects", "trailing bytes", build(`{}{}`, 0)},
		{"entry not object", "malformed record", build(`{"a":5}`, 0)},
		{"missing dtype", "missing dtype", build(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"unknown dtype", "unknown dtype", build(`{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"missing shape", "missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4)},
		{"negative dim", "negative dimension", build(`{"a":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}`, 16)},
		{"fractional dim", "non-negative integer", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4)},
		{"string dim", "non-negative integer", build(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, 4)},
		{"huge dim", "non-negative integer", build(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, 4)},
		{"numel overflow", "overflows", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4)},
		{"bytes overflow", "overflows", build(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}`, 4)},
		{"one offset", "2 numbers", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 4)},
		{"negative offset", "not a non-negative", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 4)},
		{"reversed offsets", "end before", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4)},
		{"size mismatch", "needs 8 bytes", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4)},
		{"bf16 size mismatch", "needs 4 bytes", build(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}}`, 8)},
		{"offsets past end", "cover 8 bytes", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4)},
		{"unused trailing data", "cover 4 bytes", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8)},
		{"gap", "gap before", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8)},
		{"overlap", "overlaps", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8)},
		{"duplicate region", "overlaps", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)},
		{"bad metadata", "__metadata__", build(`{"__metadata__":{"k":1}}`, 0)},
		{"unsupported dtype", "only F32, F16 and BF16", build(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil {
				t.Fatalf("no error; got %d tensors", len(f.Tensors))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// A size larger than the reader's contents is an I/O error, not a panic.
func TestReadShortReader(t *testing.T) {
	b := goldenFile()
	if _, err := Read(bytes.NewReader(b[:len(b)-2]), int64(len(b))); err == nil {
		t.Fatal("read past the end of the reader succeeded")
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("missing file read")
	}
}

func TestReadHeaderOnly(t *testing.T) {
	b := goldenFile()
	h, err := ReadHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{Name: "a", DType: F32, Shape: []int{2}, Begin: 0, End: 8},
		{Name: "b", DType: F32, Shape: []int{}, Begin: 8, End: 12},
	}
	if !reflect.DeepEqual(h.Tensors, want) || h.DataStart != 144 {
		t.Fatalf("header %+v", h)
	}
	x, err := h.ReadTensor(bytes.NewReader(b), "a")
	if err != nil || !reflect.DeepEqual(x.Data, []float32{1, -2}) || !reflect.DeepEqual(x.Shape, []int{2}) {
		t.Fatalf("ReadTensor(a) = %v, %v", x, err)
	}
	if _, err := h.ReadTensor(bytes.NewReader(b), "missing"); err == nil {
		t.Fatal("missing tensor read")
	}
	// Unsupported dtypes still describe and validate at header level.
	f := build(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8)
	hi, err := ReadHeader(bytes.NewReader(f), int64(len(f)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hi.ReadTensor(bytes.NewReader(f), "a"); err == nil || !strings.Contains(err.Error(), "I64") {
		t.Fatalf("I64 tensor: error %v", err)
	}
}

func TestF16ToFloat32(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},          // largest finite half
		{0x0400, 1.0 / 16384},    // smallest normal, 2^-14
		{0x0001, 1.0 / 16777216}, // smallest subnormal, 2^-24
		{0x03ff, 1023.0 / 16777216},
		{0x83ff, -1023.0 / 16777216},
		{0x0000, 0},
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := F16ToFloat32(c.bits); got != c.want {
			t.Errorf("F16ToFloat32(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if z := F16ToFloat32(0x8000); z != 0 || !math.Signbit(float64(z)) {
		t.Errorf("0x8000 = %v, want -0", z)
	}
	for _, nan := range []uint16{0x7e00, 0x7c01, 0xfe00} {
		if v := F16ToFloat32(nan); !math.IsNaN(float64(v)) {
			t.Errorf("F16ToFloat32(%#04x) = %v, want NaN", nan, v)
		}
	}
	// Every finite half converts to a value that rounds back to itself
	// through float64 arithmetic on the definition: (-1)^s 2^(e-15) (1 + m/1024).
	for h := 0; h < 1<<16; h++ {
		e := (h >> 10) & 0x1f
		if e == 0x1f {
			continue
		}
		m := float64(h & 0x3ff)
		var v float64
		if e == 0 {
			v = m * math.Pow(2, -24)
		} else {
			v = math.Pow(2, float64(e-15)) * (1 + m/1024)
		}
		if h&0x8000 != 0 {
			v = -v
		}
		if got := F16ToFloat32(uint16(h)); float64(got) != v {
			t.Fatalf("F16ToFloat32(%#04x) = %v, want %v", h, got, v)
		}
	}
}

func TestBF16ToFloat32(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3f80, 1},
		{0x4049, 3.140625},
		{0xc2f7, -123.5},
		{0x0001, float32(math.Pow(2, -133))},
		{0xff80, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := BF16ToFloat32(c.bits); got != c.want {
			t.Errorf("BF16ToFloat32(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
	if v := BF16ToFloat32(0x7fc0); !math.IsNaN(float64(v)) {
		t.Errorf("0x7fc0 = %v, want NaN", v)
	}
}

func TestReadHalfDtypes(t *testing.T) {
	header := `{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[6,10]}}`
	f := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	f = append(f, header...)
	for _, v := range []uint16{0x3c00, 0xc000, 0x3555, 0x3f80, 0xc2f7} {
		f = binary.LittleEndian.AppendUint16(f, v)
	}
	got, err := Read(bytes.NewReader(f), int64(len(f)))
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Tensors["h"]; !reflect.DeepEqual(h.Data, []float32{1, -2, 0.333251953125}) {
		t.Errorf("F16 tensor %v", h.Data)
	}
	if b := got.Tensors["b"]; !reflect.DeepEqual(b.Data, []float32{1, -123.5}) || !reflect.DeepEqual(b.Shape, []int{1, 2}) {
		t.Errorf("BF16 tensor %v %v", b.Data, b.Shape)
	}
	if got.DTypes["h"] != F16 || got.DTypes["b"] != BF16 {
		t.Errorf("dtypes %v", got.DTypes)
	}
}

// A tensor larger than one read chunk converts across chunk boundaries.
func TestReadLargeTensor(t *testing.T) {
	n := 3<<16 + 5
	x := tensor.New(n)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	var buf bytes.Buffer
	if err := Write(&buf, map[string]*tensor.Tensor{"x": x}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Tensors["x"].Data {
		if v != float32(i) {
			t.Fatalf("x[%d] = %v", i, v)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(goldenFile())
	var buf bytes.Buffer
	Write(&buf, map[string]*tensor.Tensor{"w": tensor.Full(2, 2, 2), "z": tensor.New(0)}, map[string]string{"a": "b"})
	f.Add(buf.Bytes())
	f.Add(build(`{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]}}`, 4))
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// What loads, and holds only F32, writes back to a file that loads the same.
		var out bytes.Buffer
		if err := Write(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("rewrite of a valid file failed: %v", err)
		}
		again, err := Read(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("rewritten file does not load: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("%d tensors after rewrite, want %d", len(again.Tensors), len(file.Tensors))
		}
		for name, x := range file.Tensors {
			y := again.Tensors[name]
			if y == nil || !reflect.DeepEqual(x.Shape, y.Shape) || len(x.Data) != len(y.Data) {
				t.Fatalf("tensor %q changed in rewrite", name)
			}
			for i := range x.Data {
				if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
					t.Fatalf("tensor %q[%d] changed in rewrite", name, i)
				}
			}
		}
	})
}

// Headers written by other tools may carry whitespace anywhere JSON allows it.
func TestReadWhitespaceHeader(t *testing.T) {
	b := build("{ \"a\" : { \"dtype\" : \"F32\" , \"shape\" : [ 2 ,\n 1 ] , \"data_offsets\" : [ 0 , 8 ] } }  ", 8)
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Tensors["a"].Shape, []int{2, 1}) {
		t.Fatalf("shape %v", f.Tensors["a"].Shape)
	}
}
