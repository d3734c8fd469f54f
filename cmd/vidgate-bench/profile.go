package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// startCPUProfile profiles this process's CPU into dir/cpu.pprof until
// the returned func is called, and turns on the block and mutex profiles
// that snapshotProfiles writes.
func startCPUProfile(dir string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Where goroutines wait (channels, selects, locks) and which locks
	// they contend on: what a CPU profile cannot show.
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	runtime.SetMutexProfileFraction(10)
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

// snapshotProfiles writes the heap (after a GC), block and mutex profiles
// and the goroutines, grouped by stack, into c.profileDir, if it is set.
func (c *config) snapshotProfiles() error {
	if c.profileDir == "" {
		return nil
	}
	runtime.GC()
	for name, profile := range map[string]string{"heap.pprof": "heap", "goroutines.txt": "goroutine", "block.pprof": "block", "mutex.pprof": "mutex"} {
		f, err := os.Create(filepath.Join(c.profileDir, name))
		if err != nil {
			return err
		}
		debug := 0
		if name == "goroutines.txt" {
			debug = 1
		}
		err = pprof.Lookup(profile).WriteTo(f, debug)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
