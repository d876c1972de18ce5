//go:build !unix

package loop

// processCPUSeconds is not measured on this platform.
func processCPUSeconds() float64 { return nan() }
