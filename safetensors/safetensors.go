// Package safetensors reads and writes named float32 tensors in the
// safetensors format, the checkpoint format of the Hugging Face ecosystem.
//
// A file is laid out as
//
//	[8 bytes]  N, the header length, unsigned little-endian
//	[N bytes]  a JSON object: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
//	           "__metadata__": {"key": "value"}}, padded with spaces
//	[rest]     the tensors' raw little-endian bytes; data_offsets are relative to this section
//
// Writing produces F32 only. Reading accepts F32, F16 and BF16 (widened to
// float32), so that published GPT-2 checkpoints load. Every field of a file is
// validated before any tensor data is allocated: a malformed file yields an
// error, never a panic, and allocations stay bounded by the file's size.
package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"rlhf/tensor"
)

// MaxHeaderLen is the largest JSON header Read accepts, in bytes (100 MB, as
// the reference implementation allows).
const MaxHeaderLen = 100 << 20

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// DType names an element type as it appears in a header ("F32", "BF16", ...).
type DType string

// Element types. Read converts F32, F16 and BF16; the others are recognised
// (so that ReadHeader can validate and describe any file) but not converted.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// dtypeSizes holds the byte width of every dtype the format defines.
var dtypeSizes = map[DType]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, F16: 2, BF16: 2,
	"I32": 4, "U32": 4, F32: 4,
	"F64": 8, "I64": 8, "U64": 8,
}

// Size returns the byte width of one element of d, or 0 if d is unknown.
func (d DType) Size() int { return int(dtypeSizes[d]) }

// Info describes one tensor in a header.
type Info struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets into the data section, End exclusive.
	Begin, End int64
}

// Header is a validated safetensors header.
type Header struct {
	// Tensors, ordered by their position in the data section.
	Tensors []Info
	// Metadata is the "__metadata__" map; empty if the file has none.
	Metadata map[string]string
	// DataStart is the absolute file offset of the data section (8 + header length).
	DataStart int64
}

// File is a fully loaded safetensors file.
type File struct {
	// Tensors by name, converted to float32.
	Tensors map[string]*tensor.Tensor
	// DTypes records each tensor's on-disk element type.
	DTypes map[string]DType
	// Metadata is the "__metadata__" map; empty if the file has none.
	Metadata map[string]string
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// headerEntry is one tensor's record as JSON spells it. Numbers are kept raw
// and parsed as integers, so that negative, fractional, quoted or huge values
// give a clear error.
type headerEntry struct {
	DType       *string           `json:"dtype"`
	Shape       []json.RawMessage `json:"shape"`
	DataOffsets []json.RawMessage `json:"data_offsets"`
}

// ReadHeader reads and validates the header of a safetensors file of the
// given total size. It checks that the header length is within bounds, the
// JSON is well formed, every dtype is known, no dimension is negative, every
// tensor's byte length equals its element count times its element size, and
// the tensors tile the data section exactly: contiguous, non-overlapping,
// starting at 0 and ending at the end of the file.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte length prefix", size)
	}
	var prefix [8]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the limit of %d bytes", n, MaxHeaderLen)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the length prefix", n, size-8)
	}
	raw := make([]byte, n)
	if _, err := r.ReadAt(raw, 8); err != nil {
		return nil, fmt.Errorf("safetensors: read %d-byte header: %w", n, err)
	}
	h, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	h.DataStart = 8 + int64(n)
	dataLen := size - h.DataStart
	var pos int64
	for _, t := range h.Tensors {
		if t.Begin != pos {
			if t.Begin < pos {
				return nil, fmt.Errorf("safetensors: tensor %q data [%d, %d) overlaps the previous tensor ending at %d", t.Name, t.Begin, t.End, pos)
			}
			return nil, fmt.Errorf("safetensors: gap before tensor %q: data starts at %d, previous tensor ends at %d", t.Name, t.Begin, pos)
		}
		pos = t.End
	}
	if pos != dataLen {
		return nil, fmt.Errorf("safetensors: tensors cover %d bytes of data but the file holds %d", pos, dataLen)
	}
	return h, nil
}

// parseHeader decodes and validates the JSON header, except for the checks
// that need the file size.
func parseHeader(raw []byte) (*Header, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var entries map[string]json.RawMessage
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("safetensors: header is not a JSON object: %w", err)
	}
	if entries == nil {
		return nil, errors.New("safetensors: header is JSON null, want an object")
	}
	// Only the padding may follow the object.
	if len(bytes.Trim(raw[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("safetensors: trailing bytes after the header's JSON object")
	}

	h := &Header{Metadata: map[string]string{}}
	for name, msg := range entries {
		if name == metadataKey {
			var md map[string]string
			if err := json.Unmarshal(msg, &md); err != nil {
				return nil, fmt.Errorf("safetensors: %s must map strings to strings: %w", metadataKey, err)
			}
			for k, v := range md {
				h.Metadata[k] = v
			}
			continue
		}
		info, err := parseEntry(name, msg)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	slices.SortFunc(h.Tensors, func(a, b Info) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End), cmp.Compare(a.Name, b.Name))
	})
	return h, nil
}

// parseEntry validates one tensor record: known dtype, non-negative dims,
// ordered offsets, and a byte length that matches the shape.
func parseEntry(name string, msg json.RawMessage) (Info, error) {
	var e headerEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		return Info{}, fmt.Errorf("safetensors: tensor %q: malformed record: %w", name, err)
	}
	if e.DType == nil {
		return Info{}, fmt.Errorf("safetensors: tensor %q: missing dtype", name)
	}
	dt := DType(*e.DType)
	elem, ok := dtypeSizes[dt]
	if !ok {
		return Info{}, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, dt)
	}
	if e.Shape == nil {
		return Info{}, fmt.Errorf("safetensors: tensor %q: missing shape", name)
	}
	if len(e.DataOffsets) != 2 {
		return Info{}, fmt.Errorf("safetensors: tensor %q: data_offsets must hold 2 numbers, has %d", name, len(e.DataOffsets))
	}
	info := Info{Name: name, DType: dt, Shape: make([]int, len(e.Shape))}
	// The element count is bounded by MaxInt64 at every step, so the
	// multiplication below cannot overflow unnoticed.
	numel := int64(1)
	for i, s := range e.Shape {
		d, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return Info{}, fmt.Errorf("safetensors: tensor %q: dimension %d is %s, want a non-negative integer", name, i, s)
		}
		if d < 0 {
			return Info{}, fmt.Errorf("safetensors: tensor %q: negative dimension %d in shape", name, d)
		}
		if int64(int(d)) != d {
			return Info{}, fmt.Errorf("safetensors: tensor %q: dimension %d too large", name, d)
		}
		if d != 0 && numel > math.MaxInt64/d {
			return Info{}, fmt.Errorf("safetensors: tensor %q: element count of shape overflows", name)
		}
		numel *= d
		info.Shape[i] = int(d)
	}
	var offs [2]int64
	for i, o := range e.DataOffsets {
		v, err := strconv.ParseInt(string(o), 10, 64)
		if err != nil || v < 0 {
			return Info{}, fmt.Errorf("safetensors: tensor %q: data offset %s is not a non-negative integer", name, o)
		}
		offs[i] = v
	}
	info.Begin, info.End = offs[0], offs[1]
	if info.End < info.Begin {
		return Info{}, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] end before they begin", name, info.Begin, info.End)
	}
	if numel > math.MaxInt64/elem {
		return Info{}, fmt.Errorf("safetensors: tensor %q: byte length of shape overflows", name)
	}
	if want := numel * elem; info.End-info.Begin != want {
		return Info{}, fmt.Errorf("safetensors: tensor %q: %s shape %v needs %d bytes, data_offsets span %d",
			name, dt, info.Shape, want, info.End-info.Begin)
	}
	return info, nil
}

// Read loads every tensor of a safetensors file of the given total size,
// converting F16 and BF16 to float32. Other dtypes are rejected.
func Read(r io.ReaderAt, size int64) (*File, error) {
	h, err := ReadHeader(r, size)
	if err != nil {
		return nil, err
	}
	for _, t := range h.Tensors {
		if t.DType != F32 && t.DType != F16 && t.DType != BF16 {
			return nil, fmt.Errorf("safetensors: tensor %q has dtype %s; only F32, F16 and BF16 can be loaded", t.Name, t.DType)
		}
	}
	f := &File{
		Tensors:  make(map[string]*tensor.Tensor, len(h.Tensors)),
		DTypes:   make(map[string]DType, len(h.Tensors)),
		Metadata: h.Metadata,
	}
	for _, t := range h.Tensors {
		data, err := readData(r, h.DataStart, t)
		if err != nil {
			return nil, err
		}
		f.Tensors[t.Name] = &tensor.Tensor{Data: data, Shape: t.Shape}
		f.DTypes[t.Name] = t.DType
	}
	return f, nil
}

// Lookup returns the record of the named tensor.
func (h *Header) Lookup(name string) (Info, bool) {
	for _, t := range h.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Info{}, false
}

// ReadTensor loads one tensor of a file whose header h was read from r, so
// that a large checkpoint can be loaded tensor by tensor. F16 and BF16 are
// converted to float32; other dtypes are an error.
func (h *Header) ReadTensor(r io.ReaderAt, name string) (*tensor.Tensor, error) {
	t, ok := h.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	if t.DType != F32 && t.DType != F16 && t.DType != BF16 {
		return nil, fmt.Errorf("safetensors: tensor %q has dtype %s; only F32, F16 and BF16 can be loaded", t.Name, t.DType)
	}
	data, err := readData(r, h.DataStart, t)
	if err != nil {
		return nil, err
	}
	return &tensor.Tensor{Data: data, Shape: append([]int{}, t.Shape...)}, nil
}

// readData reads one validated tensor's bytes and converts them to float32.
func readData(r io.ReaderAt, dataStart int64, t Info) ([]float32, error) {
	elem := int64(t.DType.Size())
	n := (t.End - t.Begin) / elem
	out := make([]float32, n)
	const chunk = 1 << 16 // elements per read
	buf := make([]byte, min(n, chunk)*elem)
	for i := int64(0); i < n; i += chunk {
		m := min(n-i, chunk)
		b := buf[:m*elem]
		if _, err := r.ReadAt(b, dataStart+t.Begin+i*elem); err != nil {
			return nil, fmt.Errorf("safetensors: read data of tensor %q: %w", t.Name, err)
		}
		dst := out[i : i+m]
		switch t.DType {
		case F32:
			for j := range dst {
				dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		case F16:
			for j := range dst {
				dst[j] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*j:]))
			}
		case BF16:
			for j := range dst {
				dst[j] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*j:]))
			}
		}
	}
	return out, nil
}

// ReadFile loads the safetensors file at path; see Read.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: stat %s: %w", path, err)
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return f, nil
}

// F16ToFloat32 converts an IEEE 754 half-precision value, given by its bits,
// to float32 exactly (every half value is representable), including
// subnormals, infinities and NaN.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN; keep the payload's top bits
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	default: // subnormal: mant * 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
}

// BF16ToFloat32 converts a bfloat16 value, given by its bits, to float32:
// bfloat16 is the top half of a float32.
func BF16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// Write writes tensors and metadata in the safetensors format as F32, names in
// sorted order and the header padded with spaces to a multiple of 8 bytes.
// meta may be nil. Tensors must be non-nil with len(Data) equal to the
// product of a non-negative Shape; no name may be "__metadata__".
func Write(w io.Writer, tensors map[string]*tensor.Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		if name == metadataKey {
			return fmt.Errorf("safetensors: invalid tensor name %q", name)
		}
		if t == nil {
			return fmt.Errorf("safetensors: tensor %q is nil", name)
		}
		numel := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: tensor %q has negative dimension in shape %v", name, t.Shape)
			}
			numel *= d
		}
		if numel != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q has %d values, shape %v needs %d", name, len(t.Data), t.Shape, numel)
		}
		names = append(names, name)
	}
	sort.Strings(names)

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	sep := func() {
		if hdr.Len() > 1 {
			hdr.WriteByte(',')
		}
	}
	if len(meta) > 0 {
		b, err := json.Marshal(meta) // keys sorted by encoding/json
		if err != nil {
			return fmt.Errorf("safetensors: encode metadata: %w", err)
		}
		hdr.WriteString(`"` + metadataKey + `":`)
		hdr.Write(b)
	}
	var off int64
	for _, name := range names {
		t := tensors[name]
		sep()
		key, _ := json.Marshal(name) // a string always marshals
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		end := off + 4*int64(len(t.Data))
		fmt.Fprintf(&hdr, `%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, key, sh, off, end)
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}

	out := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+hdr.Len()), uint64(hdr.Len()))
	out = append(out, hdr.Bytes()...)
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	const chunk = 1 << 14 // values per write
	buf := make([]byte, 4*chunk)
	for _, name := range names {
		data := tensors[name].Data
		for len(data) > 0 {
			n := min(len(data), chunk)
			for j, v := range data[:n] {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			if _, err := w.Write(buf[:4*n]); err != nil {
				return fmt.Errorf("safetensors: write tensor %q: %w", name, err)
			}
			data = data[n:]
		}
	}
	return nil
}

// WriteFile writes a safetensors file crash-safely: the data goes to a
// temporary file in the same directory, which is synced, renamed over path
// and followed by a sync of the directory. A reader of path sees either the
// old file or the complete new one, never a partial write.
func WriteFile(path string, tensors map[string]*tensor.Tensor, meta map[string]string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: create temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = Write(tmp, tensors, meta); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: rename into %s: %w", path, err)
	}
	d, derr := os.Open(dir)
	if derr != nil {
		return fmt.Errorf("safetensors: open directory %s to sync: %w", dir, derr)
	}
	defer d.Close()
	if serr := d.Sync(); serr != nil {
		return fmt.Errorf("safetensors: sync directory %s: %w", dir, serr)
	}
	return nil
}
