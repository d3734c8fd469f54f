package providers

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
)

// MinCallbackTokenLen is the shortest CallbackToken NewCallbackToken accepts.
const MinCallbackTokenLen = 16

// CallbackToken authenticates the callbacks of vendors that sign nothing
// (Luma's callbacks, the Gemini API's Veo notifications): the driver adds
// the secret to the callback URL it gives the vendor as a "token" query
// parameter, and a delivery counts only if it brings the token back. A
// token proves the delivery came through a URL vidgate handed out, not
// what it says: drivers confirm the state with the vendor before acting.
//
// The zero CallbackToken is off: no callback URL is sent, and every
// delivery is refused.
type CallbackToken struct {
	token string
}

// NewCallbackToken returns a CallbackToken for secret; "" is off. A secret
// shorter than MinCallbackTokenLen is an error, naming vendor.
func NewCallbackToken(vendor, secret string) (CallbackToken, error) {
	if secret != "" && len(secret) < MinCallbackTokenLen {
		return CallbackToken{}, fmt.Errorf("%s: CallbackToken is shorter than %d characters", vendor, MinCallbackTokenLen)
	}
	return CallbackToken{token: secret}, nil
}

// On reports whether callbacks are configured.
func (c CallbackToken) On() bool { return c.token != "" }

// URL returns webhookURL with the token added, for the vendor to call back
// on. vendor names the driver in the error: CodeInvalidInput when
// webhookURL is not an absolute http(s) URL.
func (c CallbackToken) URL(vendor, webhookURL string) (string, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", Errorf(CodeInvalidInput, "%s submit: webhook URL is not an http(s) URL", vendor)
	}
	q := u.Query()
	q.Set("token", c.token)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Verify checks that r brings the token back (a constant-time compare). It
// returns an error for which ErrorCode is CodeUnauthenticated when
// callbacks are off or the token is missing or wrong; the error never
// quotes either token.
func (c CallbackToken) Verify(vendor string, r *http.Request) error {
	if c.token == "" {
		return Errorf(CodeUnauthenticated, "%s webhook: callbacks are not configured (no CallbackToken)", vendor)
	}
	var got string
	if r.URL != nil {
		got = r.URL.Query().Get("token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
		return Errorf(CodeUnauthenticated, "%s webhook: missing or wrong callback token", vendor)
	}
	return nil
}

// Secret returns the token itself, for drivers that remove it from vendor
// text quoting the callback URL.
func (c CallbackToken) Secret() string { return c.token }

// NewCallbackAPI is NewAPI for a vendor whose callbacks carry no
// signature, authenticated by a CallbackToken instead: it returns the API
// for cfg and the CallbackToken for secret ("" is off), which the API
// removes from every message as it does the key. A short secret is an
// error, as NewCallbackToken says.
func NewCallbackAPI(cfg APIConfig, secret string) (*API, CallbackToken, error) {
	token, err := NewCallbackToken(cfg.Vendor, secret)
	if err != nil {
		return nil, CallbackToken{}, err
	}
	cfg.Secrets = append(cfg.Secrets, secret)
	api, err := NewAPI(cfg)
	if err != nil {
		return nil, CallbackToken{}, err
	}
	return api, token, nil
}
