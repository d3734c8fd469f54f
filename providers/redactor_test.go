package providers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vidgate/vidgate/providers"
)

func TestRedactorRedact(t *testing.T) {
	t.Parallel()
	const (
		key    = "r8_Kq3vXbN0pL7mZtY2wR9cD4sF6hJ1gA5eU"
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		prompt = "A lighthouse on a cliff at dusk, waves breaking below, slow aerial orbit around the tower."
	)
	r := providers.NewRedactor(key, secret).With(prompt, "")
	words := strings.Fields(prompt)
	tests := []struct {
		name string
		in   string
		// gone must not appear in the output (compared with whitespace
		// taken out of both).
		gone []string
		// kept must appear in the output as it is.
		kept []string
	}{
		{"api key", "invalid token " + key + " given", []string{key}, []string{"invalid token", "given"}},
		{"webhook secret", "secret " + secret, []string{secret}, []string{"secret"}},
		{"prompt", `prompt "` + prompt + `" refused`, []string{prompt}, []string{"prompt \"", "\" refused"}},
		{"32-char prefix", "prompt starts " + prompt[:32], []string{prompt[:32]}, []string{"prompt starts"}},
		{"32-char window in the middle", "near: " + prompt[20:52] + " :end", []string{prompt[20:52]}, []string{"near:", ":end"}},
		{"prompt with newlines", "got\n" + strings.Join(words, "\n") + "\nend", []string{prompt}, []string{"got", "end"}},
		{"prompt with tabs and double spaces", "got " + strings.Join(words, "\t  ") + " end", []string{prompt}, []string{"got", "end"}},
		{"prompt with whitespace dropped", "got " + strings.Join(words, "") + " end", []string{prompt}, []string{"got", "end"}},
		{"key split by an invalid byte", "key " + key[:10] + "\xff" + key[10:] + " end", []string{key}, []string{"key", "end"}},
		{"key split across lines", "key: " + key[:10] + "\n" + key[10:], []string{key}, []string{"key:"}},
		{"two echoes", prompt + " and " + prompt[:40], []string{prompt, prompt[:40]}, []string{"and"}},
		{"everything at once", fmt.Sprintf("%s | %s | %s | %s", key, prompt, prompt[:32], strings.Join(words, "\n\t")),
			[]string{key, prompt, prompt[:32]}, nil},
		{"short piece of the prompt stays", "the word lighthouse is fine", nil, []string{"the word lighthouse is fine"}},
		{"nothing to redact", "model not found", nil, []string{"model not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := r.Redact(tt.in)
			dense := strings.Join(strings.Fields(got), "")
			for _, g := range tt.gone {
				if strings.Contains(dense, strings.Join(strings.Fields(g), "")) {
					t.Errorf("Redact(%q) = %q, want %q gone", tt.in, got, g)
				}
			}
			// No 32-character stretch of the prompt survives either.
			for i := 0; i+providers.RedactWindow <= len(prompt); i++ {
				if w := strings.Join(strings.Fields(prompt[i:i+providers.RedactWindow]), ""); strings.Contains(dense, w) {
					t.Errorf("Redact(%q) = %q, still holds %q", tt.in, got, prompt[i:i+providers.RedactWindow])
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("Redact(%q) = %q, want %q kept", tt.in, got, k)
				}
			}
			if len(tt.gone) > 0 && !strings.Contains(got, "[redacted]") {
				t.Errorf("Redact(%q) = %q, want a [redacted] mark", tt.in, got)
			}
		})
	}
}

func TestRedactorNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"a\n\tb  c", "a b c"},
		{"bad \xff byte", "bad byte"},
		{"", ""},
		{strings.Repeat("x", providers.MaxMessageRunes+10), strings.Repeat("x", providers.MaxMessageRunes) + "…"},
	}
	for _, tt := range tests {
		if got := (providers.Redactor{}).Redact(tt.in); got != tt.want {
			t.Errorf("Redactor{}.Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Short secrets would take ordinary words out of every message.
	if got := providers.NewRedactor("abc", " ").Redact("abc def"); got != "abc def" {
		t.Errorf("NewRedactor(\"abc\").Redact(\"abc def\") = %q, want it unchanged", got)
	}
	long := providers.NewRedactor("secret-value").Redact(strings.Repeat("é", 400) + " secret-value")
	if !utf8.ValidString(long) || utf8.RuneCountInString(long) > providers.MaxMessageRunes+1 {
		t.Errorf("Redact(long text) = %d runes (valid UTF-8 %t), want at most %d + …", utf8.RuneCountInString(long), utf8.ValidString(long), providers.MaxMessageRunes)
	}
}

// A prompt of sparse words ("a b c …") still has no 32-character stretch
// left, though each such stretch holds only 16 non-space characters.
func TestRedactorSparsePrompt(t *testing.T) {
	t.Parallel()
	prompt := strings.Repeat("a b c d e f g h ", 8)
	r := providers.NewRedactor().With(prompt)
	for i := 0; i+providers.RedactWindow <= len(prompt); i += 3 {
		in := "x " + prompt[i:i+providers.RedactWindow] + " y"
		if got := r.Redact(in); strings.Contains(got, strings.TrimSpace(prompt[i:i+providers.RedactWindow])) || !strings.Contains(got, "[redacted]") {
			t.Errorf("Redact(%q) = %q, want the stretch of the prompt gone", in, got)
		}
	}
}

func TestRedactorRedactError(t *testing.T) {
	t.Parallel()
	const prompt = "a quiet harbour at dawn with fishing boats and gulls overhead"
	inner := &providers.Error{Code: providers.CodeInvalidInput, Message: "vendor submit: HTTP 400: prompt " + prompt}
	var err error = inner
	got := providers.NewRedactor().With(prompt).RedactError(err)
	if !errors.Is(got, inner) || strings.Contains(got.Error(), prompt) || providers.ErrorCode(got) != providers.CodeInvalidInput {
		t.Errorf("RedactError(%v) = %v, want the same chain without the prompt", err, got)
	}
	if providers.NewRedactor("x-key").RedactError(nil) != nil {
		t.Error("RedactError(nil) != nil")
	}
}
