package providers_test

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://host/files/x?key=secret&alt=media": "https://host/files/x?[redacted]",
		"https://user:pw@host/x":                    "https://host/x?[redacted]",
		"https://host/x#frag":                       "https://host/x?[redacted]",
		"https://host/x":                            "https://host/x",
		"%zz?key=secret":                            "%zz?[redacted]",
	} {
		if got := providers.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// RedactURLError takes queries out of *url.Error's URL, out of the URLs the
// caller names (even when an error quotes a longer URL that begins with
// one) and out of anything that looks like a URL, and keeps the chain.
func TestRedactURLError(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t"
	base := "http://127.0.0.1:1/files/x?alt=media"
	ue := &url.Error{Op: "Get", URL: base + "&key=" + secret, Err: io.ErrUnexpectedEOF}
	for _, err := range []error{
		fmt.Errorf("download: %w", ue),
		&providers.Error{Code: providers.CodeUnavailable, Message: "m", Err: ue},
		fmt.Errorf("careless %s: %w", "https://other/x?sig="+secret, io.EOF),
	} {
		got := providers.RedactURLError(err, base)
		if msg := got.Error(); strings.Contains(msg, secret) || !strings.Contains(msg, "?[redacted]") {
			t.Errorf("RedactURLError(%q) = %q", err, msg)
		}
		if !errors.Is(got, io.ErrUnexpectedEOF) && !errors.Is(got, io.EOF) {
			t.Errorf("RedactURLError(%q) lost its chain", err)
		}
	}
	if got := providers.RedactURLError(nil); got != nil {
		t.Errorf("RedactURLError(nil) = %v", got)
	}
	plain := errors.New("no URL here")
	if got := providers.RedactURLError(plain); got != plain {
		t.Errorf("RedactURLError(%v) = %v, want the error itself", plain, got)
	}
}
