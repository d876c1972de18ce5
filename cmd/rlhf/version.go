package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"rlhf/tensor"
)

// Version is the release of this binary; builds from a checkout report the VCS revision too.
const Version = "0.1.0-dev"

func runVersion(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	rev, dirty := "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		rev += "+dirty"
	}
	fmt.Fprintf(os.Stdout, "rlhf %s (revision %s)\n%s %s/%s, %d CPUs, GEMM backend %s\n",
		Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), gemmBackend())
	return nil
}

// gemmBackend names the matrix-multiply implementation this build uses.
func gemmBackend() string { return tensor.GemmBackend() }
