package jobs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on job input.
const (
	MaxPromptLength        = 2000 // characters, of the prompt and of the negative prompt
	MinDurationSeconds     = 1
	MaxDurationSeconds     = 30
	DefaultDurationSeconds = 5
	MaxIdempotencyKeyLen   = 128
	MaxModelLength         = 200
	MaxSeed                = 1<<32 - 1 // the widest range every vendor takes
)

// AspectRatios and Resolutions are the values a job may ask for; the first
// of each is the default (or, when the job's model does not make it, the
// first the model makes). Only a model whose catalog lists "4k" makes 4k.
var (
	AspectRatios = []string{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}
	Resolutions  = []string{"720p", "1080p", "4k"}
)

type validCreate struct {
	provider string
	reason   string // why this provider, for the job's first event
	params   Params
}

// validateCreate checks in field by field and returns the first problem as
// a BAD_USER_INPUT error naming the field and what is allowed. Everything
// is checked against the model's catalog entry (see checkModel) here, before
// the job is stored: a request the model cannot do is never sent, let alone
// billed.
func (s *Service) validateCreate(in CreateInput) (validCreate, error) {
	var v validCreate
	switch in.WorkflowType {
	case TextToVideo:
		if in.SourceAssetID != "" {
			return v, BadInput("input.sourceAssetId", "only IMAGE_TO_VIDEO takes a source asset")
		}
	case ImageToVideo:
		if in.SourceAssetID == "" {
			return v, BadInput("input.sourceAssetId", "IMAGE_TO_VIDEO needs the id of an uploaded source asset")
		}
	default:
		return v, BadInput("input.workflowType", "must be TEXT_TO_VIDEO or IMAGE_TO_VIDEO")
	}
	if err := validateText("input.prompt", in.Prompt); err != nil {
		return v, err
	}
	if in.NegativePrompt != "" {
		if err := validateText("input.negativePrompt", in.NegativePrompt); err != nil {
			return v, err
		}
	}
	if s.cfg.Choose != nil {
		var err error
		if v.provider, v.reason, err = s.cfg.Choose(string(in.WorkflowType), in.Provider); err != nil {
			return v, BadInput("input.provider", "%s", err.Error())
		}
	} else {
		v.provider, v.reason = in.Provider, "requested"
		if v.provider == "" {
			v.provider, v.reason = s.cfg.DefaultProvider, "the default provider"
		}
		if !slices.Contains(s.cfg.Providers, v.provider) {
			return v, BadInput("input.provider", "unknown provider %q; available: %s", truncate(in.Provider, 64), strings.Join(s.cfg.Providers, ", "))
		}
	}
	if err := validateModelID(in.Model); err != nil {
		return v, err
	}
	v.params.Model = in.Model
	if in.DurationSeconds != nil {
		d := *in.DurationSeconds
		if d < MinDurationSeconds || d > MaxDurationSeconds {
			return v, BadInput("input.durationSeconds", "must be %d to %d seconds, got %d", MinDurationSeconds, MaxDurationSeconds, d)
		}
		v.params.DurationSeconds = d
	}
	var err error
	if v.params.AspectRatio, err = oneOf("input.aspectRatio", in.AspectRatio, AspectRatios); err != nil {
		return v, err
	}
	if v.params.Resolution, err = oneOf("input.resolution", in.Resolution, Resolutions); err != nil {
		return v, err
	}
	if in.Seed != nil {
		if sd := *in.Seed; sd < 0 || sd > MaxSeed {
			return v, BadInput("input.seed", "must be 0 to %d, got %d", int64(MaxSeed), sd)
		}
		v.params.Seed = in.Seed
	}
	v.params.Audio = in.Audio
	if err := s.checkModel(&v, in); err != nil {
		return v, err
	}
	if err := validateIdempotencyKey(in.IdempotencyKey); err != nil {
		return v, err
	}
	return v, nil
}

// validateText refuses empty, over-long and non-text prompts. The error
// never quotes the text.
func validateText(field, p string) error {
	if !utf8.ValidString(p) {
		return BadInput(field, "must be valid UTF-8")
	}
	if strings.TrimSpace(p) == "" {
		return BadInput(field, "must not be empty")
	}
	if n := utf8.RuneCountInString(p); n > MaxPromptLength {
		return BadInput(field, "is %d characters, the limit is %d", n, MaxPromptLength)
	}
	for _, r := range p {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return BadInput(field, "must not contain control characters (U+%04X)", r)
		}
	}
	return nil
}

// validateModelID refuses a model id no vendor uses: empty is the
// provider's default.
func validateModelID(m string) error {
	if len(m) > MaxModelLength {
		return BadInput("input.model", "is %d characters, the limit is %d", len(m), MaxModelLength)
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 0x21 || m[i] > 0x7e {
			return BadInput("input.model", "must be printable ASCII without spaces")
		}
	}
	return nil
}

func validateIdempotencyKey(k string) error {
	if k == "" {
		return nil
	}
	if len(k) > MaxIdempotencyKeyLen {
		return BadInput("input.idempotencyKey", "is %d characters, the limit is %d", len(k), MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return BadInput("input.idempotencyKey", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// oneOf returns v ("" when empty: checkModel fills the default), or a
// BAD_USER_INPUT error listing what is allowed.
func oneOf(field, v string, allowed []string) (string, error) {
	if v == "" {
		return "", nil
	}
	if !slices.Contains(allowed, v) {
		return "", BadInput(field, "must be one of %s, got %q", strings.Join(allowed, ", "), truncate(v, 32))
	}
	return v, nil
}

func validateReview(in ReviewInput) (string, error) {
	if utf8.RuneCountInString(in.Note) > MaxNoteLength {
		return "", BadInput("note", "is longer than %d characters", MaxNoteLength)
	}
	if !utf8.ValidString(in.Note) {
		return "", BadInput("note", "must be valid UTF-8")
	}
	if in.Decision == DecisionApproved {
		return "", nil
	}
	if len(in.Reasons) == 0 {
		return "", BadInput("reasons", "give at least one rejection reason")
	}
	var codes []string
	for _, r := range in.Reasons {
		if !slices.Contains(Reasons, r) {
			return "", BadInput("reasons", "unknown reason %q", truncate(string(r), 32))
		}
		if !slices.Contains(codes, string(r)) {
			codes = append(codes, string(r))
		}
		if r == ReasonOther && strings.TrimSpace(in.Note) == "" {
			return "", BadInput("note", "OTHER needs a note saying what is wrong")
		}
	}
	return strings.Join(codes, ","), nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Cursor returns the opaque pagination cursor that follows job.
func Cursor(job *Job) string {
	return base64.RawURLEncoding.EncodeToString([]byte("j1:" + strconv.FormatInt(job.ID, 10)))
}

// ParseCursor returns the job id inside a cursor made by Cursor.
func ParseCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errors.New("bad cursor")
	}
	rest, ok := strings.CutPrefix(string(b), "j1:")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("bad cursor")
	}
	return id, nil
}
