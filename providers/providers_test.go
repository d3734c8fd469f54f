package providers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorCode(t *testing.T) {
	t.Parallel()
	rateLimited := &providers.Error{Code: providers.CodeRateLimited, RetryAfter: 7 * time.Second}
	tests := []struct {
		name           string
		err            error
		want           providers.Code
		wantRetryAfter time.Duration
	}{
		{"nil", nil, "", 0},
		{"error", providers.Errorf(providers.CodeContentPolicy, "no"), providers.CodeContentPolicy, 0},
		{"wrapped error", fmt.Errorf("submit job: %w", rateLimited), providers.CodeRateLimited, 7 * time.Second},
		{"error wrapping a deadline", &providers.Error{Code: providers.CodeNotFound, Err: context.DeadlineExceeded}, providers.CodeNotFound, 0},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), providers.CodeUnavailable, 0},
		{"canceled", context.Canceled, providers.CodeUnavailable, 0},
		{"net timeout", fmt.Errorf("dial: %w", timeoutErr{}), providers.CodeUnavailable, 0},
		// A connection that broke after the request went out: the vendor
		// may have started the work, so the call is retried (with the same
		// idempotency key), never failed as a refusal.
		{"connection reset", &url.Error{Op: "Post", URL: "https://vendor.test/v1", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, providers.CodeUnavailable, 0},
		{"answer cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), providers.CodeUnavailable, 0},
		{"closed before the answer", &url.Error{Op: "Post", URL: "https://vendor.test/v1", Err: io.EOF}, providers.CodeUnavailable, 0},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, providers.CodeUnavailable, 0},
		{"other", errors.New("the answer has no id"), providers.CodeUnknown, 0},
	}
	for _, tt := range tests {
		if got := providers.ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%s) = %q, want %q", tt.name, got, tt.want)
		}
		if got := providers.RetryAfter(tt.err); got != tt.wantRetryAfter {
			t.Errorf("RetryAfter(%s) = %s, want %s", tt.name, got, tt.wantRetryAfter)
		}
	}
}

func TestCodeTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code providers.Code
		want bool
	}{
		{providers.CodeInvalidInput, false},
		{providers.CodeContentPolicy, false},
		{providers.CodeRateLimited, true},
		{providers.CodeUnavailable, true},
		{providers.CodeNotFound, false},
		{providers.CodeUnauthenticated, false},
		{providers.CodeUnimplemented, false},
		{providers.CodeUnknown, false},
	}
	for _, tt := range tests {
		if got := tt.code.Transient(); got != tt.want {
			t.Errorf("%s.Transient() = %t, want %t", tt.code, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection reset")
	tests := []struct {
		err  *providers.Error
		want string
	}{
		{&providers.Error{Code: providers.CodeUnknown}, "UNKNOWN"},
		{&providers.Error{Code: providers.CodeContentPolicy, Message: "refused", VendorCode: "SAFETY.INPUT.TEXT"},
			"CONTENT_POLICY: refused (vendor code SAFETY.INPUT.TEXT)"},
		{&providers.Error{Code: providers.CodeRateLimited, Message: "slow down", RetryAfter: 2 * time.Second, Err: cause},
			"RATE_LIMITED: slow down (retry after 2s): connection reset"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("(%#v).Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
	if err := (&providers.Error{Code: providers.CodeUnavailable, Err: cause}); !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, cause) = false, want true", err)
	}
}

func TestCodeForHTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   providers.Code
	}{
		{200, ""}, {302, ""},
		{400, providers.CodeInvalidInput}, {413, providers.CodeInvalidInput}, {422, providers.CodeInvalidInput},
		{401, providers.CodeUnauthenticated}, {403, providers.CodeUnauthenticated},
		{404, providers.CodeNotFound}, {410, providers.CodeNotFound},
		{408, providers.CodeUnavailable}, {500, providers.CodeUnavailable}, {502, providers.CodeUnavailable}, {504, providers.CodeUnavailable},
		// 409: a request with the same idempotency key still in progress;
		// 425: too early. Both say "not now", not "no".
		{409, providers.CodeUnavailable}, {425, providers.CodeUnavailable},
		{429, providers.CodeRateLimited},
		{501, providers.CodeUnimplemented},
		// Any other 4xx is a refusal that will not change: permanent.
		{405, providers.CodeUnknown}, {418, providers.CodeUnknown}, {451, providers.CodeUnknown},
	}
	for _, tt := range tests {
		if got := providers.CodeForHTTPStatus(tt.status); got != tt.want {
			t.Errorf("CodeForHTTPStatus(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

// Every 4xx but 408, 409, 425 and 429 is permanent: the engine fails the
// attempt at once instead of retrying a refusal.
func TestHTTPStatusPermanence(t *testing.T) {
	t.Parallel()
	for status := 400; status < 500; status++ {
		want := status == 408 || status == 409 || status == 425 || status == 429
		if got := providers.CodeForHTTPStatus(status).Transient(); got != want {
			t.Errorf("CodeForHTTPStatus(%d) = %s, transient %t; want transient %t", status, providers.CodeForHTTPStatus(status), got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"99999999999", 24 * time.Hour},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := providers.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestStateTerminal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    providers.State
		want bool
	}{
		{providers.StateQueued, false},
		{providers.StateProcessing, false},
		{providers.StateSucceeded, true},
		{providers.StateFailed, true},
		{providers.StateCanceled, true},
	}
	for _, tt := range tests {
		if got := tt.s.Terminal(); got != tt.want {
			t.Errorf("%s.Terminal() = %t, want %t", tt.s, got, tt.want)
		}
	}
}

// named is a Driver that only has a name.
type named struct {
	providers.Driver
	name string
}

func (n named) Name() string { return n.name }

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := providers.NewRegistry(named{name: "sim"}, named{name: "fal"}, named{name: "replicate"})
	if got, want := r.Names(), []string{"fal", "replicate", "sim"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if d, ok := r.Get("sim"); !ok || d.Name() != "sim" {
		t.Errorf("Get(sim) = %v, %t; want the sim driver, true", d, ok)
	}
	if d, ok := r.Get("runway"); ok || d != nil {
		t.Errorf("Get(runway) = %v, %t; want nil, false", d, ok)
	}
	if got := providers.NewRegistry().Names(); len(got) != 0 {
		t.Errorf("NewRegistry().Names() = %q, want none", got)
	}

	tests := []struct {
		name string
		ds   []providers.Driver
	}{
		{"duplicate", []providers.Driver{named{name: "sim"}, named{name: "sim"}}},
		{"empty name", []providers.Driver{named{name: ""}}},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewRegistry(%s) did not panic, want a panic", tt.name)
				}
			}()
			providers.NewRegistry(tt.ds...)
		}()
	}
}
