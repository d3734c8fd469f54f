package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startCPUProfile profiles this process's CPU into dir/cpu.pprof until
// the returned func is called.
func startCPUProfile(dir string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// snapshotProfiles writes the heap profile (after a GC) and the
// goroutines, grouped by stack, into c.profileDir, if it is set.
func (c *config) snapshotProfiles() error {
	if c.profileDir == "" {
		return nil
	}
	runtime.GC()
	for name, debug := range map[string]int{"heap.pprof": 0, "goroutines.txt": 1} {
		f, err := os.Create(filepath.Join(c.profileDir, name))
		if err != nil {
			return err
		}
		profile := "heap"
		if name == "goroutines.txt" {
			profile = "goroutine"
		}
		err = pprof.Lookup(profile).WriteTo(f, debug)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
