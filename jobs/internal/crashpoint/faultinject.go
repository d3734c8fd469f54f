//go:build faultinject

package crashpoint

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Builds with -tags faultinject stop a process at a named step so that a
// test can kill it there (SIGKILL, from outside): the step is named by
// VIDGATE_CRASHPOINT. The first goroutine to reach it prints
// "CRASHPOINT <name>" to stderr and blocks forever; the process keeps
// running its other work until the test kills it. The steps:
//
//	submit.before-provider  the job is SUBMITTED, the provider not called yet
//	submit.after-provider   the provider answered, its request id not saved
//	ingest.mid-copy         part of the output is read, none of it stored yet
//	                        when it is smaller than worker.Config.IngestPartBytes
//	ingest.after-part       a whole part of the output is stored
//	outbox.before-send      a change and its tasks committed (task_outbox),
//	                        none of them on its stream yet (jobs.Relay)
var crashAt = os.Getenv("VIDGATE_CRASHPOINT")

var crashOnce sync.Once

// At stops the process at step name, when it is the one named.
func At(name string) {
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

// Reader reaches the crash point named name after the first read.
func Reader(name string, r io.Reader) io.Reader {
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
		At(c.name)
	}
	return c.r.Read(p)
}
