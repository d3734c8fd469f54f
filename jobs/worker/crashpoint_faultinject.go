//go:build faultinject

package worker

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Builds with -tags faultinject stop the worker at a named step so that a
// test can kill the process there (SIGKILL, from outside): the step is
// named by VIDGATE_CRASHPOINT. The first task to reach it prints
// "CRASHPOINT <name>" to stderr and blocks forever; the process keeps
// running its other tasks until the test kills it. The steps:
//
//	submit.before-provider  the job is SUBMITTED, the provider not called yet
//	submit.after-provider   the provider answered, its request id not saved
//	ingest.mid-copy         part of the output is read, none of it stored yet
//	                        when it is smaller than Config.IngestPartBytes
//	ingest.after-part       a whole part of the output is stored
var crashAt = os.Getenv("VIDGATE_CRASHPOINT")

var crashOnce sync.Once

func crashpoint(name string) {
	if name != crashAt {
		return
	}
	reached := false
	crashOnce.Do(func() {
		reached = true
		fmt.Fprintf(os.Stderr, "CRASHPOINT %s\n", name)
	})
	if reached {
		select {} // until the test kills the process
	}
}

// crashReader reaches the crash point named name after the first read.
func crashReader(name string, r io.Reader) io.Reader {
	if name != crashAt {
		return r
	}
	return &crashingReader{name: name, r: r}
}

type crashingReader struct {
	name  string
	r     io.Reader
	reads int
}

func (c *crashingReader) Read(p []byte) (int, error) {
	if c.reads++; c.reads > 1 {
		crashpoint(c.name)
	}
	return c.r.Read(p)
}
