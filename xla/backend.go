// Package xla runs rlhf's models and losses on GoMLX (github.com/gomlx/gomlx):
// on XLA/PJRT for GPUs, or on GoMLX's pure-Go backend for tests.
//
// Model and loss code does not change: it is traced through an ag tape made
// with ag.NewTracingTape, whose ops this package turns into a GoMLX graph.
// GoMLX differentiates the traced loss, and a Trainer compiles a whole
// training step (forward, loss, backward, global-norm clipping, AdamW) into
// one executable per op sequence and shape, cached; parameters and AdamW
// moments stay on the device between steps and Sync copies them back into
// the ag.Vars, so checkpoints are the same safetensors files on every backend.
//
// Devices (see Open):
//
//	go               GoMLX's pure-Go backend, ops run sequentially (always built)
//	go:<config>      the same with an explicit GoMLX config, e.g. go:parallelism=2
//	xla:cuda         the PJRT plugin named "cuda" found on PJRT_PLUGIN_LIBRARY_PATH
//	xla:/abs/p.so    the PJRT plugin at that path (e.g. JAX's xla_cuda_plugin.so)
//	xla:<plugin>,tf32  the same with TensorFloat-32 matrix products (see Precision)
//
// XLA devices multiply float32 matrices in full float32 by default (FP32),
// so that results match the CPU engine; the tf32 option trades that for
// speed on tensor-core GPUs. The precision is set in the process
// environment before the plugin loads, so it is one per process.
//
// The XLA devices need the build tag xla (cgo, gcc, -ldl); the default build
// has no cgo. Nothing is ever downloaded: GoMLX's plugin auto-install is off.
package xla

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

var (
	openMu sync.Mutex
	opened = map[string]backends.Backend{}
)

// Open returns the GoMLX backend for device (see the package comment). A
// device is opened once per process and shared (a PJRT client claims most of
// the GPU's memory).
func Open(device string) (backends.Backend, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if b, ok := opened[device]; ok {
		return b, nil
	}
	b, err := open(device)
	if err != nil {
		return nil, err
	}
	opened[device] = b
	return b, nil
}

func open(device string) (backends.Backend, error) {
	// GoMLX reads this before any plugin lookup; it must never download.
	if err := os.Setenv("GOMLX_NO_AUTO_INSTALL", "1"); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	kind, config, _ := strings.Cut(device, ":")
	switch kind {
	case "go":
		if config == "" {
			// The default parallel scheduler deadlocked on 2 cores.
			config = "ops_sequential"
		}
		b, err := simplego.New(config)
		if err != nil {
			return nil, fmt.Errorf("xla: open %q: %w", device, err)
		}
		return b, nil
	case "xla":
		if config == "" {
			return nil, fmt.Errorf("xla: device %q names no plugin (want xla:cuda or xla:/abs/path/plugin.so)", device)
		}
		return openPJRT(config)
	}
	return nil, fmt.Errorf("xla: unknown device %q (want go, go:<config>, xla:<plugin> or xla:/abs/path/plugin.so)", device)
}
