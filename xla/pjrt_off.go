//go:build !xla

package xla

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
)

// Built reports whether the XLA/PJRT devices are compiled in (build tag xla).
const Built = false

func openPJRT(plugin string) (backends.Backend, error) {
	return nil, fmt.Errorf("xla: device xla:%s needs a binary built with -tags xla (cgo)", plugin)
}
