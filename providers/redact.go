package providers

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// RedactURL returns raw without what may hold a credential — the query,
// the fragment and any user:password — for error messages and logs:
// "https://host/path?[redacted]". Text that does not parse as a URL is
// cut at the first '?' or '#'.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i] + "?[redacted]"
		}
		return raw
	}
	redacted := u.RawQuery != "" || u.Fragment != "" || u.User != nil
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	if redacted {
		return u.String() + "?[redacted]"
	}
	return u.String()
}

// urlWithQuery matches an http(s) URL with a query or fragment in free
// text, up to the next space or quote; group 1 is the part before it.
var urlWithQuery = regexp.MustCompile(`(https?://[^\s"'?#]*)[?#][^\s"']*`)

// RedactURLError returns err with every URL it may quote passed through
// RedactURL: the URL of each *url.Error in its chain (net/http's errors
// quote the URL they requested), each of known (the URLs the caller asked
// for, which a careless error may quote some other way), and anything
// else in its text that looks like an http(s) URL with a query. The chain
// is kept, so errors.Is and errors.As work as before. It returns nil for
// nil, and err itself when its text quotes none of them.
func RedactURLError(err error, known ...string) error {
	if err == nil {
		return nil
	}
	urls := slices.Clone(known)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ue, ok := e.(*url.Error); ok {
			urls = append(urls, ue.URL)
		}
	}
	// Longest first: a URL may begin with another (the task's URL, and the
	// one a driver requested with a key appended).
	slices.SortFunc(urls, func(a, b string) int { return len(b) - len(a) })
	msg := err.Error()
	redacted := msg
	for _, u := range urls {
		if u == "" {
			continue
		}
		r := RedactURL(u)
		// *url.Error quotes its URL with %q: the escaped form too.
		redacted = strings.ReplaceAll(redacted, strconv.Quote(u), strconv.Quote(r))
		redacted = strings.ReplaceAll(redacted, u, r)
	}
	// Whatever else looks like a URL with a query.
	redacted = urlWithQuery.ReplaceAllString(redacted, "$1?[redacted]")
	if redacted == msg {
		return err
	}
	return &redactedError{msg: redacted, err: err}
}

// redactedError is an error whose text has its URLs redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error, for errors.Is and errors.As. Its text
// is not redacted: print the redactedError, never what it wraps.
func (e *redactedError) Unwrap() error { return e.err }
