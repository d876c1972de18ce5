package xla

import (
	"os"
	"strings"
	"testing"
)

func TestPluginPrecision(t *testing.T) {
	for _, c := range []struct {
		config, rest string
		want         Precision
	}{
		{"/p/xla_cuda_plugin.so", "/p/xla_cuda_plugin.so", FP32},
		{"cuda,fp32", "cuda", FP32},
		{"cuda,tf32", "cuda,tf32", TF32},
		{"cuda,shared_buffers,tf32,", "cuda,shared_buffers,tf32", TF32},
	} {
		p, rest, err := pluginPrecision(c.config)
		if err != nil || p != c.want || rest != c.rest {
			t.Errorf("%q: %q %q %v, want %q %q", c.config, p, rest, err, c.want, c.rest)
		}
	}
	if _, _, err := pluginPrecision("cuda,tf32,fp32"); err == nil {
		t.Error("fp32 and tf32 together: no error")
	}
	for dev, want := range map[string]Precision{"go": FP32, "go:ops_sequential": FP32, "xla:cuda": FP32, "xla:/a/b.so,tf32": TF32} {
		if p, err := PrecisionOf(dev); err != nil || p != want {
			t.Errorf("PrecisionOf(%q) = %q, %v; want %q", dev, p, err, want)
		}
	}
}

// TestSetPrecision checks the environment an FP32 device runs under and
// that one process cannot mix precisions.
func TestSetPrecision(t *testing.T) {
	saved := pjrtPrecision
	defer func() { pjrtPrecision = saved }()
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
	t.Setenv(tf32Override, "")
	os.Unsetenv(tf32Override)

	pjrtPrecision = ""
	if err := setPrecision(FP32); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv(tf32Override); got != "0" {
		t.Errorf("%s = %q, want 0", tf32Override, got)
	}
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_dump_to=/tmp/x --xla_gpu_enable_triton_gemm=false" {
		t.Errorf("XLA_FLAGS = %q", got)
	}
	if err := setPrecision(FP32); err != nil {
		t.Errorf("same precision again: %v", err)
	}
	if err := setPrecision(TF32); err == nil || !strings.Contains(err.Error(), "per process") {
		t.Errorf("TF32 after FP32: %v", err)
	}

	// The user's own choices stay; TF32 changes nothing.
	pjrtPrecision = ""
	t.Setenv("XLA_FLAGS", "--xla_gpu_enable_triton_gemm=true")
	t.Setenv(tf32Override, "1")
	if err := setPrecision(FP32); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("XLA_FLAGS") != "--xla_gpu_enable_triton_gemm=true" || os.Getenv(tf32Override) != "1" {
		t.Errorf("user settings changed: XLA_FLAGS %q, %s %q", os.Getenv("XLA_FLAGS"), tf32Override, os.Getenv(tf32Override))
	}
	pjrtPrecision = ""
	t.Setenv("XLA_FLAGS", "")
	os.Unsetenv(tf32Override)
	if err := setPrecision(TF32); err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv(tf32Override); ok || os.Getenv("XLA_FLAGS") != "" {
		t.Errorf("TF32 set the environment: XLA_FLAGS %q", os.Getenv("XLA_FLAGS"))
	}
}
