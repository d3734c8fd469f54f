//go:build !faultinject

// Package crashpoint marks the steps at which the fault tests stop a
// vidgate process and kill it (see faultinject.go). In normal builds its
// functions do nothing and compile away.
package crashpoint

import "io"

// At marks the step name.
func At(string) {}

// Reader wraps r so that the fault tests can stop a process midway
// through reading it. In normal builds it returns r.
func Reader(_ string, r io.Reader) io.Reader { return r }
