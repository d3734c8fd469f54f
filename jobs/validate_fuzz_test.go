package jobs

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzProviders are the providers of the fuzzed Service; "sim" is the
// default.
var fuzzProviders = []string{"sim", "replicate", "fal"}

// FuzzValidateCreate checks validateCreate, on a Service with no store and
// no vault (validation reads neither), against an independent statement of
// the documented limits: it accepts exactly the inputs within them, fills
// in the defaults, and refuses everything else with a BAD_USER_INPUT *Error
// naming the first field at fault, in the order the fields are checked.
// Seeds: the cases below and testdata/fuzz/FuzzValidateCreate.
func FuzzValidateCreate(f *testing.F) {
	type seed struct {
		workflow, prompt, source, provider string
		hasDuration                        bool
		duration                           int
		ratio, resolution, key             string
	}
	for _, s := range []seed{
		{"text_to_video", "A lighthouse at dusk", "", "", false, 0, "", "", ""},
		{"image_to_video", "Slow pan\nacross the bay\t\r", "asset_1", "fal", true, 30, "21:9", "1080p", "key-1"},
		{"text_to_video", "x", "", "replicate", true, 1, "9:16", "720p", strings.Repeat("~", MaxIdempotencyKeyLen)},
		{"text_to_video", strings.Repeat("é", MaxPromptLength), "", "", true, 0, "", "", ""},
		{"text_to_video", strings.Repeat("é", MaxPromptLength+1), "", "", true, 31, "", "", ""},
		{"text_to_video", " \u00a0\u3000\n", "", "", false, 0, "", "", ""},
		{"text_to_video", "a\x00b", "", "", false, 0, "", "", ""},
		{"text_to_video", "a\u0085b", "", "", false, 0, "", "", ""},
		{"text_to_video", "a\u202eb\u200b", "", "", false, 0, "", "", ""},
		{"text_to_video", "bad \xff utf-8", "", "", false, 0, "", "", ""},
		{"text_to_video", "ok", "asset_1", "", false, 0, "", "", ""},
		{"image_to_video", "ok", "", "", false, 0, "", "", ""},
		{"TEXT_TO_VIDEO", "ok", "", "", false, 0, "", "", ""},
		{"", "ok", "", "", false, 0, "", "", ""},
		{"text_to_video", "ok", "", "runway", false, 0, "", "", ""},
		{"text_to_video", "ok", "", "", true, -2147483648, "", "", ""},
		{"text_to_video", "ok", "", "", true, 9223372036854775807, "", "", ""},
		{"text_to_video", "ok", "", "", false, 0, "16:9 ", "", ""},
		{"text_to_video", "ok", "", "", false, 0, "", "4k", ""},
		{"text_to_video", "ok", "", "", false, 0, "", "", "has space"},
		{"text_to_video", "ok", "", "", false, 0, "", "", "ünicode"},
		{"text_to_video", "ok", "", "", false, 0, "", "", strings.Repeat("k", MaxIdempotencyKeyLen+1)},
	} {
		f.Add(s.workflow, s.prompt, s.source, s.provider, s.hasDuration, s.duration, s.ratio, s.resolution, s.key)
	}

	s, err := NewService(nil, nil, ServiceConfig{Providers: fuzzProviders, DefaultProvider: "sim"})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, workflow, prompt, source, provider string, hasDuration bool, duration int, ratio, resolution, key string) {
		in := CreateInput{
			WorkflowType:   WorkflowType(workflow),
			Prompt:         prompt,
			SourceAssetID:  source,
			Provider:       provider,
			AspectRatio:    ratio,
			Resolution:     resolution,
			IdempotencyKey: key,
		}
		if hasDuration {
			in.DurationSeconds = &duration
		}
		v, err := s.validateCreate(in)
		wantField := fuzzFirstBadField(in)

		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadUserInput || e.Field == "" {
				t.Fatalf("validateCreate(%+v) error = %#v, want a BAD_USER_INPUT *Error with a Field", in, err)
			}
			if wantField == "" {
				t.Fatalf("validateCreate(%+v) error = %v, want the input accepted", in, err)
			}
			if e.Field != wantField {
				t.Fatalf("validateCreate(%+v) error = %v about %s, want one about %s", in, err, e.Field, wantField)
			}
			if !strings.HasPrefix(e.Message, e.Field+": ") {
				t.Errorf("validateCreate(%+v) error message %q, want it to start with its field", in, e.Message)
			}
			if e.Field == "input.prompt" && len(prompt) >= 8 && strings.Contains(e.Message, prompt) {
				t.Errorf("validateCreate(%+v) error message %q quotes the prompt", in, e.Message)
			}
			return
		}
		if wantField != "" {
			t.Fatalf("validateCreate(%+v) = %+v, nil; want an error about %s", in, v, wantField)
		}
		// Accepted: what is stored is within the limits, defaults filled.
		wantProvider := fuzzOr(provider, "sim")
		wantDuration := DefaultDurationSeconds
		if hasDuration {
			wantDuration = duration
		}
		if v.provider != wantProvider || !slices.Contains(fuzzProviders, v.provider) {
			t.Errorf("validateCreate(%+v).provider = %q, want %q", in, v.provider, wantProvider)
		}
		if p := v.params; p.DurationSeconds != wantDuration || p.DurationSeconds < 1 || p.DurationSeconds > 30 {
			t.Errorf("validateCreate(%+v).DurationSeconds = %d, want %d in 1..30", in, p.DurationSeconds, wantDuration)
		}
		if p := v.params; p.AspectRatio != fuzzOr(ratio, "16:9") || !slices.Contains(AspectRatios, p.AspectRatio) {
			t.Errorf("validateCreate(%+v).AspectRatio = %q, want %q, one of %v", in, p.AspectRatio, ratio, AspectRatios)
		}
		if p := v.params; p.Resolution != fuzzOr(resolution, "720p") || !slices.Contains(Resolutions, p.Resolution) {
			t.Errorf("validateCreate(%+v).Resolution = %q, want %q, one of %v", in, p.Resolution, resolution, Resolutions)
		}
	})
}

// fuzzFirstBadField is the documented limits, written apart from
// validate.go: the field validateCreate must refuse first, or "" if in is
// acceptable. The order is validateCreate's: workflow and source asset,
// prompt, provider, duration, aspect ratio, resolution, idempotency key.
func fuzzFirstBadField(in CreateInput) string {
	switch {
	case in.WorkflowType != "text_to_video" && in.WorkflowType != "image_to_video":
		return "input.workflowType"
	case (in.WorkflowType == "image_to_video") != (in.SourceAssetID != ""):
		return "input.sourceAssetId"
	case !fuzzPromptOK(in.Prompt):
		return "input.prompt"
	case in.Provider != "" && in.Provider != "sim" && in.Provider != "replicate" && in.Provider != "fal":
		return "input.provider"
	case in.DurationSeconds != nil && (*in.DurationSeconds < 1 || *in.DurationSeconds > 30):
		return "input.durationSeconds"
	case in.AspectRatio != "" && !slices.Contains([]string{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}, in.AspectRatio):
		return "input.aspectRatio"
	case in.Resolution != "" && in.Resolution != "720p" && in.Resolution != "1080p":
		return "input.resolution"
	case !fuzzKeyOK(in.IdempotencyKey):
		return "input.idempotencyKey"
	}
	return ""
}

// fuzzPromptOK: valid UTF-8; something other than white space; at most
// 2000 characters (runes); no C0 or C1 control character but tab, newline
// and carriage return.
func fuzzPromptOK(p string) bool {
	if !utf8.ValidString(p) || strings.TrimSpace(p) == "" {
		return false
	}
	n := 0
	for _, r := range p {
		n++
		if (r < 0x20 || (r >= 0x7f && r <= 0x9f)) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return n <= 2000
}

// fuzzKeyOK: none, or 1..128 bytes of printable ASCII without spaces.
func fuzzKeyOK(k string) bool {
	if len(k) > 128 {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func fuzzOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// FuzzParseCursor checks that ParseCursor never panics, accepts only
// cursors of positive job ids, and agrees with Cursor: the cursor of an
// id it returns parses to the same id, and the cursor of any positive id
// parses back to it. Seeds: the cases below and
// testdata/fuzz/FuzzParseCursor.
func FuzzParseCursor(f *testing.F) {
	f.Add(Cursor(&Job{ID: 1}), int64(1))
	f.Add(Cursor(&Job{ID: 9223372036854775807}), int64(9223372036854775807))
	f.Add("ajE6MA", int64(0))                                            // "j1:0"
	f.Add("ajE6LTE", int64(-1))                                          // "j1:-1"
	f.Add("ajE6KzQy", int64(42))                                         // "j1:+42"
	f.Add("ajE6MDA3", int64(7))                                          // "j1:007"
	f.Add("ajE6OTIyMzM3MjAzNjg1NDc3NTgwOA", int64(-9223372036854775808)) // "j1:9223372036854775808"
	f.Add("ajE6\nNDI", int64(42))
	f.Add("ajE6NDI=", int64(42))
	f.Add("ajI6NDI", int64(42)) // "j2:42"
	f.Add("", int64(0))
	f.Add("%%%", int64(3))

	f.Fuzz(func(t *testing.T, c string, id int64) {
		got, err := ParseCursor(c)
		if err == nil {
			if got <= 0 {
				t.Fatalf("ParseCursor(%q) = %d, want a positive id", c, got)
			}
			if again, err := ParseCursor(Cursor(&Job{ID: got})); err != nil || again != got {
				t.Fatalf("ParseCursor(Cursor(%d)) = %d, %v; want %d", got, again, err, got)
			}
		} else if got != 0 {
			t.Fatalf("ParseCursor(%q) = %d, %v; want 0 with the error", c, got, err)
		}

		back, err := ParseCursor(Cursor(&Job{ID: id}))
		switch {
		case id > 0 && (err != nil || back != id):
			t.Fatalf("ParseCursor(Cursor(%d)) = %d, %v; want %d", id, back, err, id)
		case id <= 0 && err == nil:
			t.Fatalf("ParseCursor(Cursor(%d)) = %d, nil; want an error for a non-positive id", id, back)
		}
	})
}
