package fal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// errorBody is either of fal's error shapes: model errors, {"detail":
// [detailEntry…]}, and request errors, {"detail": "…", "error_type": "…"}.
type errorBody struct {
	Detail    json.RawMessage `json:"detail"`
	ErrorType string          `json:"error_type"`
}

// detailEntry is one model error. Its "input" (the refused value) is not
// read: it must not reach an event log.
type detailEntry struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

const typeContentPolicy = "content_policy_violation"

// contentPolicyWords mark a content-policy refusal in an untyped message.
var contentPolicyWords = []string{"content policy", "content_policy", "nsfw", "flagged", "safety checker", "moderation", "sensitive content"}

// failure is a classified fal error.
type failure struct {
	code    providers.Code
	vendor  string
	message string
}

// classify classifies an error body with the HTTP status it came with (0 if
// unknown) and the X-Fal-Error-Type header; see the package doc.
func classify(httpStatus int, headerType string, body []byte, sc scrubber) failure {
	var eb errorBody
	_ = json.Unmarshal(body, &eb) // a proxy's page classifies by status
	errType := cmpOr(headerType, eb.ErrorType)
	var entries []detailEntry
	var detail string
	if json.Unmarshal(eb.Detail, &entries) != nil {
		entries = nil
		_ = json.Unmarshal(eb.Detail, &detail)
	}
	f := failure{code: providers.CodeForHTTPStatus(httpStatus), vendor: errType}
	if f.code == "" {
		f.code = providers.CodeUnknown
	}
	var parts []string
	for _, e := range entries {
		part := e.Msg
		if loc := locText(e.Loc); loc != "" {
			part = loc + ": " + part
		}
		parts = append(parts, part)
	}
	if detail != "" {
		parts = append(parts, detail)
	}
	f.message = sc.clean(strings.Join(parts, "; "))
	text := strings.ToLower(f.message)
	hasWord := slices.ContainsFunc(contentPolicyWords, func(w string) bool { return strings.Contains(text, w) })

	switch i := slices.IndexFunc(entries, func(e detailEntry) bool { return e.Type == typeContentPolicy }); {
	case i >= 0:
		f.code, f.vendor = providers.CodeContentPolicy, typeContentPolicy
	case hasWord:
		f.code = providers.CodeContentPolicy
	case errType != "":
		f.code = providers.CodeUnavailable
	case len(entries) > 0:
		f.code = providers.CodeInvalidInput
		if f.vendor == "" {
			f.vendor = entries[0].Type
		}
	}
	return f
}

// locText renders a loc such as ["body", "prompt"] as "prompt".
func locText(loc []any) string {
	var parts []string
	for i, p := range loc {
		if i == 0 && p == "body" {
			continue
		}
		parts = append(parts, fmt.Sprint(p))
	}
	return strings.Join(parts, ".")
}

// status returns the Status of request id that failed with f.
func (f failure) status(id string) providers.Status {
	msg := "fal: request failed"
	if f.message != "" {
		msg = "fal: " + f.message
	}
	return providers.Status{RequestID: id, State: providers.StateFailed, Progress: 100,
		Error: &providers.Error{Code: f.code, VendorCode: f.vendor, Message: msg}}
}

// apiError classifies a non-2xx answer to a call: by status, refined by
// fal's error body where it names a content-policy refusal or an input
// error, with Retry-After for a 429.
func apiError(op string, resp *http.Response, data []byte, sc scrubber, now time.Time) *providers.Error {
	f := classify(resp.StatusCode, resp.Header.Get("X-Fal-Error-Type"), data, sc)
	code := providers.CodeForHTTPStatus(resp.StatusCode)
	switch {
	case f.code == providers.CodeContentPolicy:
		code = providers.CodeContentPolicy
	case code == providers.CodeUnknown && f.code == providers.CodeInvalidInput:
		code = providers.CodeInvalidInput
	}
	msg := f.message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &providers.Error{
		Code:       code,
		Message:    fmt.Sprintf("fal %s: HTTP %d: %s", op, resp.StatusCode, msg),
		VendorCode: f.vendor,
		RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
}

// maxMessage caps the vendor text in an error message.
const maxMessage = 300

// scrubber removes what must never reach an event log from vendor text.
type scrubber []string

// scrub returns a scrubber of the API key, the prompt and other secrets
// (the source image URL, whose query signs it, and the webhook URL).
func (d *Driver) scrub(prompt string, others ...string) scrubber {
	sc := scrubber{d.apiKey, prompt}
	// A vendor may echo a prompt cut short.
	if r := []rune(prompt); len(r) > 32 {
		sc = append(sc, string(r[:32]))
	}
	return append(sc, others...)
}

// clean returns text with every secret replaced by "[redacted]", on one
// line, valid UTF-8, and at most maxMessage runes.
func (sc scrubber) clean(text string) string {
	// Normalise first: invalid bytes or line breaks inside a secret must not
	// hide it from the replacement (and reassemble it afterwards).
	text = strings.Join(strings.Fields(strings.ToValidUTF8(text, "")), " ")
	for _, s := range sc {
		s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return truncate(text, maxMessage)
}
