//go:build !faultinject

package worker

import "io"

// crashpoint marks a step at which the fault tests stop a worker process
// and kill it (see crashpoint_faultinject.go). In normal builds it does
// nothing and compiles away.
func crashpoint(string) {}

// crashReader wraps r so that the fault tests can stop a worker midway
// through reading it. In normal builds it returns r.
func crashReader(_ string, r io.Reader) io.Reader { return r }
