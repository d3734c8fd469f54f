package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// A body sent without Content-Length (chunked) over the limit gets the
// same 413 as one that declares its length.
func TestChunkedBodyOverLimit(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t)) // 64 KiB limit
	if r := e.chunked(t, `{"query": "{ viewer { id } }"}`).ok(t); r.str("viewer.id") != "alice" {
		t.Errorf("chunked small body: %+v, want alice's viewer", r)
	}
	r := e.chunked(t, `{"query": "{ viewer { id } }", "variables": {"pad": "`+strings.Repeat("x", 70<<10)+`"}}`)
	if got := r.wantError(t, "PAYLOAD_TOO_LARGE", ""); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(got.Message, "limit") {
		t.Errorf("chunked oversized body: %d %q, want 413 naming the limit", r.status, got.Message)
	}
}

// chunked posts body as alice with no Content-Length.
func (e *env) chunked(t *testing.T, body string) response {
	t.Helper()
	// An io.Reader of unknown length: net/http sends it chunked.
	return e.send(t, "alice", "application/json", io.MultiReader(strings.NewReader(body)))
}
