package fal

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

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
// unknown) and the X-Fal-Error-Type header; see the package doc. Its
// message passes through redact.
func classify(httpStatus int, headerType string, body []byte, redact func(string) string) failure {
	var eb errorBody
	_ = json.Unmarshal(body, &eb) // a proxy's page classifies by status
	errType := cmp.Or(headerType, eb.ErrorType)
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
	f.message = redact(strings.Join(parts, "; "))
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

// parseError reads a non-2xx answer to a call: its status classifies,
// refined by fal's error body where it names a content-policy refusal or an
// input error. The message is redacted by providers.API.
func parseError(status int, header http.Header, data []byte) providers.VendorError {
	f := classify(status, header.Get("X-Fal-Error-Type"), data, func(s string) string { return s })
	ve := providers.VendorError{Message: f.message, VendorCode: f.vendor}
	switch code := providers.CodeForHTTPStatus(status); {
	case f.code == providers.CodeContentPolicy:
		ve.Code = providers.CodeContentPolicy
	case code == providers.CodeUnknown && f.code == providers.CodeInvalidInput:
		ve.Code = providers.CodeInvalidInput
	}
	return ve
}
