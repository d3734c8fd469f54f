package replicate

import (
	"encoding/json"
	"fmt"
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

// apiError classifies a non-2xx answer: by status, refined by the problem
// detail where it names a content-policy refusal.
func apiError(op string, resp *http.Response, data []byte, sc scrubber, now time.Time) *providers.Error {
	var p problem
	_ = json.Unmarshal(data, &p) // a proxy's HTML page classifies by status
	code := providers.CodeForHTTPStatus(resp.StatusCode)
	text := strings.TrimSpace(p.Title + ": " + p.Detail)
	text = strings.Trim(text, ": ")
	if code == providers.CodeInvalidInput && classifyText(text) == providers.CodeContentPolicy {
		code = providers.CodeContentPolicy
	}
	var vendor string
	if m := errorCodeRE.FindStringSubmatch(text); m != nil {
		vendor = m[1]
	} else if len(p.InvalidFields) > 0 {
		vendor = p.InvalidFields[0].Type
	}
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	e := &providers.Error{
		Code:       code,
		Message:    fmt.Sprintf("replicate %s: HTTP %d: %s", op, resp.StatusCode, sc.clean(text)),
		VendorCode: vendor,
		RetryAfter: providers.ParseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
	if e.RetryAfter == 0 && code == providers.CodeRateLimited {
		if m := throttleRE.FindStringSubmatch(p.Detail); m != nil {
			e.RetryAfter = providers.ParseRetryAfter(m[1], now)
		}
	}
	return e
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
	if r := []rune(text); len(r) > maxMessage {
		text = string(r[:maxMessage]) + "…"
	}
	return text
}
