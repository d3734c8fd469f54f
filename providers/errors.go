package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Code is a portable error class. The job engine decides retries from codes
// only, so an adapter maps each of its vendor's failures to exactly one.
type Code string

const (
	// CodeInvalidInput is permanent: the provider refused the parameters
	// (duration, aspect ratio, an unreadable source image …).
	CodeInvalidInput Code = "INVALID_INPUT"
	// CodeContentPolicy is permanent: the provider refused the prompt or
	// image under its content policy.
	CodeContentPolicy Code = "CONTENT_POLICY"
	// CodeRateLimited is transient: the provider asked us to slow down.
	// RetryAfter says when to try again if the provider said so.
	CodeRateLimited Code = "RATE_LIMITED"
	// CodeUnavailable is transient: 5xx answers, 408, 409 and 425, timeouts,
	// connection errors (refused, reset, cut mid-answer), or a generation the
	// provider failed on its own side.
	CodeUnavailable Code = "UNAVAILABLE"
	// CodeNotFound: the request id is unknown to the provider.
	CodeNotFound Code = "NOT_FOUND"
	// CodeUnauthenticated: the API key was refused, or a webhook's signature
	// or timestamp does not verify.
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	// CodeUnimplemented: the provider cannot do this (cancel, a workflow …).
	CodeUnimplemented Code = "UNIMPLEMENTED"
	// CodeUnknown is everything an adapter could not classify, such as a
	// 4xx answer without a usual meaning (405, 418 …). It is permanent, like
	// every code but CodeRateLimited and CodeUnavailable: the engine fails
	// the attempt at once with the vendor's message rather than ask again —
	// and maybe pay again — for an answer that will not change.
	CodeUnknown Code = "UNKNOWN"
)

// Codes lists every Code, for callers that enumerate them (metrics series
// created at zero, documentation checks).
var Codes = []Code{CodeInvalidInput, CodeContentPolicy, CodeRateLimited, CodeUnavailable,
	CodeNotFound, CodeUnauthenticated, CodeUnimplemented, CodeUnknown}

// Transient reports whether an operation that failed with c may succeed if
// retried unchanged later: true for CodeRateLimited and CodeUnavailable.
func (c Code) Transient() bool {
	return c == CodeRateLimited || c == CodeUnavailable
}

// Error is the error type drivers return. The engine reads Code and
// RetryAfter; Message and VendorCode are recorded in the job's event log.
type Error struct {
	Code Code
	// Message is safe to store in the job's event log and to show an
	// operator: it never includes the prompt or an API key.
	Message string
	// VendorCode is the vendor's own code, e.g. "SAFETY.INPUT.TEXT", or "".
	VendorCode string
	// RetryAfter is how long the vendor asked us to wait (Retry-After), or 0.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Error returns "CODE: message (vendor code V): cause", leaving out the parts
// that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.VendorCode != "" {
		fmt.Fprintf(&b, " (vendor code %s)", e.VendorCode)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the portable code of err:
//   - "" for nil;
//   - the Code of the first *Error in err's chain;
//   - CodeUnavailable for context.DeadlineExceeded, context.Canceled,
//     network timeouts and failed connections (refused, reset, closed before
//     or during the answer): the call did not complete, and nothing is known
//     about the vendor's side, so trying again later — with the same
//     idempotency key — is the right answer;
//   - CodeUnknown for anything else (permanent).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || connectionFailed(err) {
		return CodeUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CodeUnavailable
	}
	return CodeUnknown
}

// connectionFailed reports whether err is a connection that failed rather
// than an answer: refused, reset, broken, or closed before the answer was
// complete.
func connectionFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// RetryAfter returns the wait the vendor asked for, from the first *Error in
// err's chain, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// CodeForHTTPStatus is the usual meaning of a vendor's HTTP status code, for
// adapters to refine with the vendor's own error codes: 400, 413, 415 and 422
// are CodeInvalidInput; 401 and 403 CodeUnauthenticated; 404 and 410
// CodeNotFound; 408 (timeout), 409 (conflict: typically a request with the
// same idempotency key still in progress), 425 (too early) and 5xx
// CodeUnavailable; 429 CodeRateLimited; 501 CodeUnimplemented; every other
// 4xx (405, 418 …) CodeUnknown, which is permanent: the vendor refused the
// request, and asking again gets the same answer. It returns "" for 1xx–3xx.
func CodeForHTTPStatus(status int) Code {
	switch {
	case status < 400:
		return ""
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnsupportedMediaType, status == http.StatusUnprocessableEntity:
		return CodeInvalidInput
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return CodeUnauthenticated
	case status == http.StatusNotFound, status == http.StatusGone:
		return CodeNotFound
	case status == http.StatusTooManyRequests:
		return CodeRateLimited
	case status == http.StatusNotImplemented:
		return CodeUnimplemented
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooEarly, status >= 500:
		return CodeUnavailable
	default:
		return CodeUnknown
	}
}

const maxRetryAfterSeconds = 24 * 60 * 60

// ParseRetryAfter parses a Retry-After header value: delay seconds or an
// HTTP date (relative to now). It returns 0 for an empty, malformed or past
// value, and at most a day.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Capped at a day, so a hostile value cannot park a job forever
		// (or overflow a Duration).
		return time.Duration(min(max(n, 0), maxRetryAfterSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfterSeconds*time.Second)
	}
	return 0
}

// QuoteLen is how many characters of a vendor's text (an error body, a
// failure reason) a message quotes.
const QuoteLen = 300

// Clip shortens s to its first n characters, marked with "…" when cut, for
// a message that quotes a value or a vendor's text.
func Clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
