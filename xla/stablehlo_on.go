//go:build xla

package xla

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	gomlxla "github.com/gomlx/gomlx/backends/xla"
	"k8s.io/klog/v2"
)

// stablehloMu serialises dumps: they switch klog's global verbosity.
var stablehloMu sync.Mutex

// StableHLO returns the StableHLO program (MLIR text) that an XLA device
// would compile for the training step of f, without any PJRT plugin: the
// graph is built on a backend of GoMLX's XLA kind that has no client, whose
// Compile writes the program to its log and then fails. For reading what XLA
// gets (op counts, dot shapes and precisions) on a machine without a GPU.
func (t *Trainer) StableHLO(f Func) (string, error) {
	b, err := programOnlyBackend()
	if err != nil {
		return "", err
	}
	stablehloMu.Lock()
	defer stablehloMu.Unlock()
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	var buf bytes.Buffer
	for k, v := range map[string]string{"v": "2", "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "10"} {
		if err := fs.Set(k, v); err != nil {
			return "", err
		}
	}
	klog.SetOutput(&buf)
	defer func() {
		fs.Set("v", "0")
		fs.Set("logtostderr", "true")
		klog.SetOutput(os.Stderr)
	}()
	dump := &Trainer{Backend: b, Params: t.Params, Config: t.Config, p: t.p, m: t.m, v: t.v, decay: t.decay, Steps: t.Steps}
	e, _, outs, err := dump.graph(kindStep, f)
	if err != nil {
		return "", err
	}
	defer e.g.Finalize()
	cerr := compileGraph(e.g, outs)
	klog.Flush()
	text := buf.String()
	const mark = "StableHLO program:\n"
	i := strings.Index(text, mark)
	if i < 0 {
		return "", fmt.Errorf("xla: no StableHLO program in the log (compile: %v)", cerr)
	}
	text = text[i+len(mark):]
	if j := strings.Index(text, "\n}\n"); j >= 0 {
		text = text[:j+3]
	}
	return text, nil
}

// programOnlyBackend returns a GoMLX XLA backend without a PJRT client: it
// builds StableHLO programs but cannot compile or run them.
func programOnlyBackend() (backends.Backend, error) {
	b := &gomlxla.Backend{}
	v := reflect.ValueOf(b).Elem()
	set := func(name string, val func(reflect.Type) reflect.Value) error {
		f := v.FieldByName(name)
		if !f.IsValid() {
			return errors.New("xla: GoMLX's XLA backend has no field " + name + " (a GoMLX version this code does not know)")
		}
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(val(f.Type()))
		return nil
	}
	if err := set("plugin", func(t reflect.Type) reflect.Value { return reflect.New(t.Elem()) }); err != nil {
		return nil, err
	}
	if err := set("capabilities", func(reflect.Type) reflect.Value { return reflect.ValueOf(gomlxla.Capabilities.Clone()) }); err != nil {
		return nil, err
	}
	if err := set("numDevices", func(reflect.Type) reflect.Value { return reflect.ValueOf(1) }); err != nil {
		return nil, err
	}
	if err := set("pluginName", func(reflect.Type) reflect.Value { return reflect.ValueOf("program-only") }); err != nil {
		return nil, err
	}
	return b, nil
}
