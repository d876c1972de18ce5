//go:build !unix

package gpt

func processCPUSeconds() float64 { return 0 }
