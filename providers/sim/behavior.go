package sim

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Vendor error codes: the "code" of an error body, and of a failed
// generation's "error".
const (
	CodeInvalidInput    = "invalid_input"
	CodeContentPolicy   = "content_policy"
	CodeServerError     = "server_error"
	CodeRateLimited     = "rate_limited"
	CodeUnauthenticated = "unauthenticated"
	CodeNotFound        = "not_found"
	CodeGone            = "gone"
)

// Defaults for a zero Config.Defaults.
const (
	DefaultLatency            = 8 * time.Second
	DefaultRetryAfter         = time.Second
	DefaultOutputExpiresAfter = time.Hour
)

// DefaultMaxOutputSize is the largest output_size a prompt may ask for
// unless Config.MaxOutputSize says otherwise.
const DefaultMaxOutputSize = 64 << 20

// Limits on behaviour values, so a prompt cannot make the simulator hold a
// goroutine for days or stream terabytes.
const (
	maxLatency    = time.Hour
	maxOutputSize = 16 << 30 // Config.MaxOutputSize's ceiling
	maxCopies     = 10
)

// Behavior is how the simulator treats one generation. Config.Defaults
// applies to every generation; directives in its prompt override fields one
// by one (see ParseDirectives and the package documentation).
type Behavior struct {
	// Latency is the time from submission to the terminal state: the
	// generation is processing at 25, 50 and 75 % of it. Zero in
	// Config.Defaults means DefaultLatency; "latency=0s" in a prompt means
	// at once.
	Latency time.Duration
	// Hold keeps the generation queued until Server.Succeed, Server.Fail or a
	// cancel finishes it.
	Hold bool
	// Fail makes the generation fail with this code instead of succeeding:
	// CodeContentPolicy, CodeInvalidInput or CodeServerError.
	Fail string
	// SubmitError makes the create call answer with this HTTP status (429,
	// 500, 502, 503 or 504) instead of starting a generation, for the first
	// SubmitErrorCount submissions of each idempotency key, or for all of
	// them if SubmitErrorCount is 0.
	SubmitError      int
	SubmitErrorCount int
	// SubmitDelay makes the create call start the generation and then wait
	// this long before it answers — a provider that times out after it has
	// accepted the work — for the first SubmitDelayCount submissions of each
	// idempotency key, or for all of them if SubmitDelayCount is 0.
	SubmitDelay      time.Duration
	SubmitDelayCount int
	// RetryAfter is the Retry-After of a 429, rounded up to whole seconds.
	// Zero in Config.Defaults means DefaultRetryAfter.
	RetryAfter time.Duration
	// WebhookCopies sends each webhook delivery this many times (same
	// webhook-id); 0 and 1 mean once.
	WebhookCopies int
	// ReorderWebhooks holds a generation's deliveries until it is terminal,
	// then sends the terminal one first and the progress ones after it.
	ReorderWebhooks bool
	// DropWebhooks sends no webhooks at all: the client must poll.
	DropWebhooks bool
	// OutputExpiresAfter is how long the output URL works after the
	// generation succeeded; then it answers 410 Gone. Zero in Config.Defaults
	// means DefaultOutputExpiresAfter; "output_expires_after=0s" in a prompt
	// means at once.
	OutputExpiresAfter time.Duration
	// OutputSize pads the output MP4 with a free box to this many bytes
	// (streamed; any size up to 16 GiB costs no memory). Zero means the
	// sample video's own size (about 20–30 kB).
	OutputSize int64
	// CorruptOutput serves bytes that claim to be video/mp4 and are not.
	CorruptOutput bool
	// MoovAtEnd serves an MP4 whose moov box follows its mdat (not
	// "faststart"), for readers that must seek to the end.
	MoovAtEnd bool
}

// withDefaults fills the zero fields that have a default.
func (b Behavior) withDefaults() Behavior {
	if b.Latency == 0 {
		b.Latency = DefaultLatency
	}
	if b.RetryAfter == 0 {
		b.RetryAfter = DefaultRetryAfter
	}
	if b.OutputExpiresAfter == 0 {
		b.OutputExpiresAfter = DefaultOutputExpiresAfter
	}
	return b
}

// validate checks the ranges of every field.
func (b Behavior) validate() error {
	switch {
	case b.Latency < 0 || b.Latency > maxLatency:
		return fmt.Errorf("latency: not between 0s and %s", maxLatency)
	case b.Fail != "" && b.Fail != CodeContentPolicy && b.Fail != CodeInvalidInput && b.Fail != CodeServerError:
		return fmt.Errorf("fail: not one of %s, %s, %s", CodeContentPolicy, CodeInvalidInput, CodeServerError)
	case b.SubmitError != 0 && b.SubmitError != 429 && (b.SubmitError < 500 || b.SubmitError > 504):
		return fmt.Errorf("submit_error: not 429 or 500..504")
	case b.SubmitErrorCount < 0:
		return fmt.Errorf("submit_error: negative count")
	case b.SubmitDelay < 0 || b.SubmitDelay > maxLatency:
		return fmt.Errorf("slow_submit: not between 0s and %s", maxLatency)
	case b.RetryAfter < 0 || b.RetryAfter > maxLatency:
		return fmt.Errorf("retry_after: not between 0s and %s", maxLatency)
	case b.WebhookCopies < 0 || b.WebhookCopies > maxCopies:
		return fmt.Errorf("duplicate: not between 1 and %d", maxCopies)
	case b.OutputExpiresAfter < 0:
		return fmt.Errorf("output_expires_after: negative")
	case b.OutputSize < 0 || b.OutputSize > maxOutputSize:
		return fmt.Errorf("output_size: not between 0 and 16GiB")
	}
	return nil
}

// directiveRE matches one directive block: "[sim" and its settings up to "]".
var directiveRE = regexp.MustCompile(`\[sim(?:\s[^\]]*)?\]`)

// ParseDirectives returns base overridden by the directive blocks in prompt,
// "[sim key=value flag …]", in order (a later setting wins). Text outside the
// blocks is ignored. It returns an error for an unknown key, a malformed
// value or a value out of range. The error names a known key at most and
// never quotes the prompt: not an unknown key, not a value (the text inside
// a directive is prompt text, and errors reach logs, job events and
// errorMessage, where prompts must never appear).
func ParseDirectives(prompt string, base Behavior) (Behavior, error) {
	b := base
	for _, block := range directiveRE.FindAllString(prompt, -1) {
		for _, tok := range strings.Fields(block[len("[sim") : len(block)-1]) {
			if err := b.set(tok); err != nil {
				if key, _, _ := strings.Cut(tok, "="); slices.Contains(directiveKeys, key) {
					return Behavior{}, fmt.Errorf("sim directive %s: %w", key, err)
				}
				return Behavior{}, fmt.Errorf("sim directive: %w", err)
			}
		}
	}
	if err := b.validate(); err != nil {
		return Behavior{}, fmt.Errorf("sim directive: %w", err)
	}
	return b, nil
}

// directiveKeys are the keys set knows, the only prompt text an error may
// name.
var directiveKeys = []string{"latency", "hold", "fail", "submit_error", "slow_submit", "retry_after", "duplicate",
	"reorder", "drop_webhooks", "output_expires_after", "output_size", "corrupt_output", "moov_at_end"}

// set applies one "key=value" or "flag" token. Its errors never quote the
// token.
func (b *Behavior) set(tok string) error {
	key, val, hasVal := strings.Cut(tok, "=")
	flag := func(p *bool) error {
		if !hasVal {
			*p = true
			return nil
		}
		v, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		*p = v
		return nil
	}
	if !hasVal {
		switch key {
		case "hold", "reorder", "drop_webhooks", "corrupt_output", "moov_at_end":
		default:
			if slices.Contains(directiveKeys, key) {
				return fmt.Errorf("missing =value")
			}
			return fmt.Errorf("unknown setting; the known ones are %s", strings.Join(directiveKeys, ", "))
		}
	}
	var err error
	switch key {
	case "latency":
		b.Latency, err = time.ParseDuration(val)
	case "hold":
		return flag(&b.Hold)
	case "fail":
		b.Fail = val
	case "submit_error":
		status, count, hasCount := strings.Cut(val, ":")
		if b.SubmitError, err = strconv.Atoi(status); err != nil {
			return fmt.Errorf("want STATUS or STATUS:COUNT")
		}
		b.SubmitErrorCount = 0
		if hasCount {
			if b.SubmitErrorCount, err = strconv.Atoi(count); err != nil || b.SubmitErrorCount < 1 {
				return fmt.Errorf("want STATUS or STATUS:COUNT with COUNT ≥ 1")
			}
		}
	case "slow_submit":
		dur, count, hasCount := strings.Cut(val, ":")
		if b.SubmitDelay, err = time.ParseDuration(dur); err != nil {
			return fmt.Errorf("want DURATION or DURATION:COUNT")
		}
		b.SubmitDelayCount = 0
		if hasCount {
			if b.SubmitDelayCount, err = strconv.Atoi(count); err != nil || b.SubmitDelayCount < 1 {
				return fmt.Errorf("want DURATION or DURATION:COUNT with COUNT ≥ 1")
			}
		}
	case "retry_after":
		b.RetryAfter, err = time.ParseDuration(val)
	case "duplicate":
		b.WebhookCopies, err = strconv.Atoi(val)
	case "reorder":
		return flag(&b.ReorderWebhooks)
	case "drop_webhooks":
		return flag(&b.DropWebhooks)
	case "output_expires_after":
		b.OutputExpiresAfter, err = time.ParseDuration(val)
	case "output_size":
		if b.OutputSize, err = parseSize(val); err != nil {
			return err // names the unit, not the value
		}
	case "corrupt_output":
		return flag(&b.CorruptOutput)
	case "moov_at_end":
		return flag(&b.MoovAtEnd)
	default:
		return fmt.Errorf("unknown setting; the known ones are %s", strings.Join(directiveKeys, ", "))
	}
	if err != nil {
		// strconv's and time's errors quote their input: the prompt.
		return fmt.Errorf("malformed value, want a number or a duration such as 2s")
	}
	return nil
}

// sizeUnits are the suffixes parseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// parseSize parses a byte count: digits with an optional unit (B, kB, MB,
// GB, KiB, MiB, GiB), e.g. "200MB" or "1048576".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = num, u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxOutputSize/mult {
		return 0, fmt.Errorf("want a byte count up to 16GiB, such as 200MB")
	}
	return n * mult, nil
}
