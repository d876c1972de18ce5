//go:build xla

package xla

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	gomlxla "github.com/gomlx/gomlx/backends/xla"
)

// Built reports whether the XLA/PJRT devices are compiled in (build tag xla).
const Built = true

func openPJRT(plugin string) (backends.Backend, error) {
	gomlxla.EnableAutoInstall(false)
	prec, plugin, err := pluginPrecision(plugin)
	if err != nil {
		return nil, err
	}
	name, _, _ := strings.Cut(plugin, ",")
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			return nil, fmt.Errorf("xla: PJRT plugin %s: %w", name, err)
		}
	} else {
		found := gomlxla.GetAvailablePlugins()
		ok := false
		for _, p := range found {
			ok = ok || p == name
		}
		if !ok {
			return nil, fmt.Errorf("xla: PJRT plugin %q not found (looked in PJRT_PLUGIN_LIBRARY_PATH=%q, or when unset in "+
				"/usr/local/lib/go-xla, ~/.local/lib/go-xla and the system library directories; found %q); "+
				"pass its absolute path, e.g. xla:/abs/path/xla_cuda_plugin.so", name, os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), found)
		}
	}
	if err := setPrecision(prec); err != nil {
		return nil, err
	}
	// go-xla's check for CUDA libraries beside the plugin would point
	// XLA_FLAGS' --xla_gpu_cuda_data_dir at a fixed directory of its
	// author's machine when it finds them; XLA finds them itself.
	if _, ok := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !ok {
		if err := os.Setenv("GOPJRT_CUDA_CHECKS", "0"); err != nil {
			return nil, fmt.Errorf("xla: %w", err)
		}
	}
	b, err := gomlxla.New(plugin)
	if err != nil {
		return nil, fmt.Errorf("xla: open PJRT plugin %s: %w", plugin, err)
	}
	return b, nil
}
