package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

// startProfiles takes the leading -cpuprofile FILE and -memprofile FILE
// arguments (also -flag=FILE), starts the CPU profile, and returns the rest
// of the arguments and a function that stops the CPU profile and writes the
// heap profile. Both files are created before the command runs, so a bad
// path fails at once rather than after a long run.
func startProfiles(args []string) (rest []string, stop func() error, err error) {
	var cpuPath, memPath string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if name != "cpuprofile" && name != "memprofile" {
			break
		}
		if !hasVal {
			if len(args) < 2 || args[1] == "" {
				return nil, nil, fmt.Errorf("-%s needs a file name", name)
			}
			val, args = args[1], args[1:]
		}
		if val == "" {
			return nil, nil, fmt.Errorf("-%s needs a file name", name)
		}
		if name == "cpuprofile" {
			cpuPath = val
		} else {
			memPath = val
		}
		args = args[1:]
	}
	var cpu, mem *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err = pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	if memPath != "" {
		if mem, err = os.Create(memPath); err != nil {
			if cpu != nil {
				pprof.StopCPUProfile()
				cpu.Close()
			}
			return nil, nil, fmt.Errorf("memory profile: %w", err)
		}
	}
	stop = func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cpu profile: %w", err))
			}
		}
		if mem != nil {
			runtime.GC() // the heap profile reports the state at the last GC
			if err := pprof.WriteHeapProfile(mem); err != nil {
				errs = append(errs, fmt.Errorf("memory profile: %w", err))
			}
			if err := mem.Close(); err != nil {
				errs = append(errs, fmt.Errorf("memory profile: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	return args, stop, nil
}
