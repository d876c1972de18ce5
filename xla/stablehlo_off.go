//go:build !xla

package xla

import "errors"

// StableHLO needs GoMLX's XLA backend, which is built only with -tags xla.
func (t *Trainer) StableHLO(f Func) (string, error) {
	return "", errors.New("xla: writing a StableHLO program needs a binary built with -tags xla (cgo)")
}
