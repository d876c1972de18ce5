package xla

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Precision is how an XLA device multiplies float32 matrices.
type Precision string

const (
	// FP32 keeps float32 matrix products in full float32 (the default): the
	// GPU results then match the CPU engine to float32 rounding.
	FP32 Precision = "fp32"
	// TF32 rounds the operands of float32 matrix products to TensorFloat-32
	// (10-bit mantissa, float32 accumulation) on GPUs with tensor cores:
	// several times faster, about 1e-3 relative error per product.
	TF32 Precision = "tf32"
)

// The environment an FP32 device runs under. XLA's GPU compiler lets float32
// dots of default precision use TF32 on tensor-core GPUs, and GoMLX v0.26
// emits no precision for its dots (only an explicit TF32 algorithm when
// asked), so full float32 is obtained outside the program: cuBLAS never uses
// TF32 when NVIDIA_TF32_OVERRIDE=0, and with Triton GEMM fusions turned off
// every float32 dot goes to cuBLAS (or XLA's own exact loops for small ones).
const (
	tf32Override = "NVIDIA_TF32_OVERRIDE"
	tritonGemm   = "--xla_gpu_enable_triton_gemm"
)

var pjrtPrecision Precision // of the first XLA device opened in this process

// pluginPrecision splits the options of an xla: device ("plugin,opt,...")
// into the precision and the config string for GoMLX (which reads tf32
// itself: it then asks XLA for the TF32 algorithm explicitly).
func pluginPrecision(config string) (Precision, string, error) {
	parts := strings.Split(config, ",")
	p := FP32
	keep := parts[:1]
	for _, o := range parts[1:] {
		switch o {
		case "fp32":
			p = FP32
		case "tf32":
			p = TF32
			keep = append(keep, o)
		case "":
		default:
			keep = append(keep, o)
		}
	}
	if p == FP32 && slices.Contains(keep, "tf32") {
		return "", "", fmt.Errorf("xla: device xla:%s asks for both fp32 and tf32", config)
	}
	return p, strings.Join(keep, ","), nil
}

// setPrecision configures the process environment for p before the first
// XLA device is opened; the environment is process-wide, so a later device
// with another precision is an error. Settings the user made explicitly
// (NVIDIA_TF32_OVERRIDE, the Triton GEMM flag in XLA_FLAGS) are kept.
func setPrecision(p Precision) error {
	if pjrtPrecision != "" {
		if pjrtPrecision != p {
			return fmt.Errorf("xla: an XLA device with %s matrix products is already open in this process; "+
				"the precision is per process, cannot open one with %s", pjrtPrecision, p)
		}
		return nil
	}
	if p == FP32 {
		if _, ok := os.LookupEnv(tf32Override); !ok {
			if err := os.Setenv(tf32Override, "0"); err != nil {
				return fmt.Errorf("xla: set %s: %w", tf32Override, err)
			}
		}
		flags := os.Getenv("XLA_FLAGS")
		if !strings.Contains(flags, tritonGemm) {
			if err := os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" "+tritonGemm+"=false")); err != nil {
				return fmt.Errorf("xla: set XLA_FLAGS: %w", err)
			}
		}
	}
	pjrtPrecision = p
	return nil
}

// PrecisionOf returns the float32 matrix-product precision of device: TF32
// for an xla: device whose options include tf32 (e.g.
// xla:/abs/path/xla_cuda_plugin.so,tf32), FP32 otherwise (the pure-Go backend
// always computes in float32).
func PrecisionOf(device string) (Precision, error) {
	kind, config, _ := strings.Cut(device, ":")
	if kind != "xla" {
		return FP32, nil
	}
	p, _, err := pluginPrecision(config)
	return p, err
}
