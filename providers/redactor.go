package providers

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMessageRunes caps the vendor text Redactor.Redact returns: enough for
// a vendor's explanation, short enough for an event log.
const MaxMessageRunes = 300

// RedactWindow is the length, in characters of the prompt with its
// whitespace collapsed, of the shortest piece of a prompt or secret that
// Redact still finds and removes: no 32-character stretch of one survives.
const RedactWindow = 32

// minRedacted is the shortest secret Redact looks for: shorter ones would
// take ordinary words out of every message.
const minRedacted = 4

// redactedMark replaces what Redact removes.
const redactedMark = "[redacted]"

// Redactor removes what must never reach a job's event log, a log line or
// an error message from a vendor's text: the secrets a driver is configured
// with (API keys, webhook secrets, callback tokens) and the text of the
// request at hand (the prompt, the negative prompt, signed image and
// webhook URLs). Every driver passes vendor text through one before it
// puts it in an error or a status.
//
// The policy, the strictest any vendor needs:
//   - each secret and prompt is removed wherever it appears;
//   - whitespace does not count: an echo with its spaces collapsed,
//     turned into newlines or tabs, added or dropped still matches;
//   - any stretch of RedactWindow characters of a secret or prompt is
//     removed too, so a prompt cut short (a prefix) or quoted in part
//     does not survive;
//   - the result is one line of valid UTF-8 of at most MaxMessageRunes
//     runes.
//
// The zero Redactor removes nothing but still normalises. A Redactor is
// immutable and safe for concurrent use.
type Redactor struct {
	secrets []string
}

// NewRedactor returns a Redactor of secrets; empty ones are ignored.
func NewRedactor(secrets ...string) Redactor {
	return Redactor{}.With(secrets...)
}

// With returns a Redactor of r's secrets and texts: the prompt and
// whatever else of one request must not be quoted back. r is unchanged.
func (r Redactor) With(texts ...string) Redactor {
	out := Redactor{secrets: make([]string, 0, len(r.secrets)+len(texts))}
	out.secrets = append(out.secrets, r.secrets...)
	for _, s := range texts {
		if len(strings.TrimSpace(s)) >= minRedacted {
			out.secrets = append(out.secrets, s)
		}
	}
	return out
}

// Redact returns text without r's secrets and texts (each removed piece
// replaced by "[redacted]"), on one line, valid UTF-8 and at most
// MaxMessageRunes runes (then ending in "…").
func (r Redactor) Redact(text string) string {
	text = strings.Join(strings.Fields(strings.ToValidUTF8(text, "")), " ")
	if len(r.secrets) > 0 && text != "" {
		text = r.remove([]rune(text))
	}
	if utf8.RuneCountInString(text) > MaxMessageRunes {
		text = string([]rune(text)[:MaxMessageRunes]) + "…"
	}
	return text
}

// RedactError redacts the Message of every *Error in err's chain and
// returns err. Call it before wrapping: fmt.Errorf's wrappers keep their
// own copy of the text.
func (r Redactor) RedactError(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if pe, ok := e.(*Error); ok {
			pe.Message = r.Redact(pe.Message)
		}
	}
	return err
}

// remove marks every rune of text that belongs to a match of one of r's
// secrets and replaces each marked stretch with redactedMark. Matching
// runs over the text and the secrets with their whitespace taken out, so
// whitespace changes neither hide an echo nor split a match.
func (r Redactor) remove(text []rune) string {
	dense, at := squeeze(text)
	marked := make([]bool, len(dense))
	hit := false
	for _, s := range r.secrets {
		hit = mark(dense, marked, s) || hit
	}
	if !hit {
		return string(text)
	}
	var b strings.Builder
	last := 0 // next rune of text to copy
	for i := 0; i < len(dense); {
		if !marked[i] {
			i++
			continue
		}
		j := i
		for j+1 < len(dense) && marked[j+1] {
			j++
		}
		b.WriteString(string(text[last:at[i]]))
		b.WriteString(redactedMark)
		last = at[j] + 1
		i = j + 1
	}
	b.WriteString(string(text[last:]))
	return b.String()
}

// squeeze returns text without whitespace, and for each of its runes the
// index of that rune in text.
func squeeze(text []rune) (dense []rune, at []int) {
	dense, at = make([]rune, 0, len(text)), make([]int, 0, len(text))
	for i, c := range text {
		if !unicode.IsSpace(c) {
			dense, at = append(dense, c), append(at, i)
		}
	}
	return dense, at
}

// mark sets marked for every rune of dense inside a match of secret: the
// whole secret or, for a secret longer than RedactWindow characters, any
// stretch of it at least window long, where window is the fewest
// non-space runes a RedactWindow-character stretch of the secret (its
// whitespace collapsed) holds. It reports whether it marked anything.
func mark(dense []rune, marked []bool, secret string) bool {
	collapsed := []rune(strings.Join(strings.Fields(strings.ToValidUTF8(secret, "")), " "))
	s, _ := squeeze(collapsed)
	if len(s) < minRedacted {
		return false
	}
	window := len(s)
	if len(collapsed) > RedactWindow {
		window = fewestDense(collapsed)
	}
	if window > len(dense) {
		return false
	}
	// Rabin–Karp over windows of window runes: the secret's windows go in
	// a set by hash, then each window of dense is looked up and compared.
	const base = 1_000_003
	pow := uint64(1)
	for range window - 1 {
		pow *= base
	}
	hashes := make(map[uint64][]int, len(s)-window+1)
	var h uint64
	for i, c := range s {
		if i >= window {
			h -= uint64(s[i-window]) * pow
		}
		h = h*base + uint64(c)
		if i >= window-1 {
			hashes[h] = append(hashes[h], i-window+1)
		}
	}
	found := false
	h = 0
	for i, c := range dense {
		if i >= window {
			h -= uint64(dense[i-window]) * pow
		}
		h = h*base + uint64(c)
		if i < window-1 {
			continue
		}
		start := i - window + 1
		for _, k := range hashes[h] {
			if slices.Equal(dense[start:i+1], s[k:k+window]) {
				for j := start; j <= i; j++ {
					marked[j] = true
				}
				found = true
				break
			}
		}
	}
	return found
}

// fewestDense returns the fewest non-space runes in any RedactWindow-rune
// stretch of collapsed (text whose whitespace runs are single spaces).
func fewestDense(collapsed []rune) int {
	n, fewest := 0, len(collapsed)
	for i, c := range collapsed {
		if c != ' ' {
			n++
		}
		if i >= RedactWindow && collapsed[i-RedactWindow] != ' ' {
			n--
		}
		if i >= RedactWindow-1 {
			fewest = min(fewest, n)
		}
	}
	return max(fewest, minRedacted)
}
