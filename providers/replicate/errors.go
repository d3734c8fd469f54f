package replicate

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// problem is Replicate's error body (RFC 7807 problem details).
type problem struct {
	Title         string `json:"title"`
	Detail        string `json:"detail"`
	Status        int    `json:"status"`
	InvalidFields []struct {
		Type        string `json:"type"`
		Field       string `json:"field"`
		Description string `json:"description"`
	} `json:"invalid_fields"`
}

// throttleRE matches the wait in a 429's detail, "Expected available in 3
// seconds."
var throttleRE = regexp.MustCompile(`available in (\d+) seconds?`)

// parseError reads a non-2xx answer's problem details: the status
// classifies, refined where the detail names a content-policy refusal, and
// a 429's detail may give the wait ("Expected available in 3 seconds.").
func parseError(status int, _ http.Header, data []byte) providers.VendorError {
	var p problem
	_ = json.Unmarshal(data, &p) // a proxy's HTML page classifies by status
	text := strings.TrimSpace(p.Title + ": " + p.Detail)
	ve := providers.VendorError{Message: strings.Trim(text, ": ")}
	if providers.CodeForHTTPStatus(status) == providers.CodeInvalidInput && classifyText(ve.Message) == providers.CodeContentPolicy {
		ve.Code = providers.CodeContentPolicy
	}
	if m := errorCodeRE.FindStringSubmatch(ve.Message); m != nil {
		ve.VendorCode = m[1]
	} else if len(p.InvalidFields) > 0 {
		ve.VendorCode = p.InvalidFields[0].Type
	}
	if m := throttleRE.FindStringSubmatch(p.Detail); m != nil && status == http.StatusTooManyRequests {
		ve.RetryAfter = providers.ParseRetryAfter(m[1], time.Time{})
	}
	return ve
}
