package sim

import (
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

// A bad directive's error reaches logs, job events and errorMessage: it
// names a known key at most, never the prompt's text, whether the secret is
// the key, the value or a neighbouring word.
func TestDirectiveErrorsNeverQuoteThePrompt(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-4f9a7Qz"
	_, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	for _, prompt := range []string{
		"a boat [sim " + secret + "]",
		"a boat [sim " + secret + "=1]",
		"a boat [sim fail=" + secret + "]",
		"a boat [sim latency=" + secret + "]",
		"a boat [sim output_size=" + secret + "]",
		"a boat [sim submit_error=" + secret + "]",
		"a boat [sim slow_submit=1s:" + secret + "]",
		"a boat [sim hold=" + secret + "]",
		"a boat [sim latency=2h] " + secret,
	} {
		_, perr := ParseDirectives(prompt, Behavior{})
		_, serr := d.Submit(t.Context(), textRequest(prompt))
		if perr == nil || providers.ErrorCode(serr) != providers.CodeInvalidInput {
			t.Errorf("%q: ParseDirectives error %v, Submit error %v; want both refused", prompt, perr, serr)
			continue
		}
		for _, err := range []error{perr, serr} {
			if strings.Contains(err.Error(), "sk-live") || strings.Contains(err.Error(), "boat") {
				t.Errorf("%q: error %q quotes the prompt", prompt, err)
			}
		}
	}
}
