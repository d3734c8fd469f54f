// Package auth turns credentials into a jobs.Actor: a JWT from an identity
// provider (RS256 or ES256, verified with the keys the IdP publishes at its
// JWKS URL), a JWT signed with HS256 and a shared secret (for development
// and `vidgate token`), or a partner app's API key (vg_…, checked against
// its hash in the store). Everything downstream sees only the Actor.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vidgate/vidgate/jobs"
)

// Config configures an Authenticator. At least one of JWKSURL and
// HS256Secret must be set.
type Config struct {
	// JWKSURL, when set, is the identity provider's JSON Web Key Set:
	// tokens signed with RS256 or ES256 are verified with the key their
	// kid header names.
	JWKSURL string
	// JWKSRefresh is how old the cached key set may grow before it is
	// fetched again (default 15m). JWKSMinRefresh is the least time between
	// two fetches, whatever prompts them — an unknown kid included
	// (default 15s).
	JWKSRefresh    time.Duration
	JWKSMinRefresh time.Duration
	// HTTPClient fetches the key set (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Log hears of failed key set fetches (nil: discarded).
	Log *slog.Logger
	// HS256Secret, when set, verifies and signs HS256 tokens; at least 32
	// bytes.
	HS256Secret []byte
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// SubjectClaim and RoleClaim name the claims that carry the subject and
	// the role (defaults "sub" and "role").
	SubjectClaim string
	RoleClaim    string
	// Leeway tolerates clock skew on exp, nbf and iat (default 30s).
	Leeway time.Duration
	// Now is the clock (nil means time.Now).
	Now func() time.Time
	// Keys, when set, checks partner apps' API keys (vg_…): a *jobs.Store.
	Keys KeyChecker
}

// KeyChecker checks an API key and returns its owner and role.
type KeyChecker interface {
	CheckAPIKey(ctx context.Context, key string) (*jobs.APIKey, error)
}

// Authenticator verifies tokens.
type Authenticator struct {
	cfg     Config
	methods []string // the accepted alg values
	parser  *jwt.Parser
	jwks    *jwksCache // nil without a JWKS URL
}

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if len(cfg.HS256Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: configure a JWKS URL or an HS256 secret")
	}
	if len(cfg.HS256Secret) > 0 && len(cfg.HS256Secret) < 32 {
		return nil, errors.New("auth: the JWT secret must be at least 32 bytes")
	}
	if cfg.SubjectClaim == "" {
		cfg.SubjectClaim = "sub"
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "role"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("auth: the JWKS URL must be an absolute http(s) URL")
		}
		c := &jwksCache{url: cfg.JWKSURL, client: cfg.HTTPClient, refresh: cfg.JWKSRefresh,
			minRefresh: cfg.JWKSMinRefresh, now: cfg.Now, log: cfg.Log}
		if c.client == nil {
			c.client = &http.Client{Timeout: 10 * time.Second}
		}
		if c.refresh <= 0 {
			c.refresh = 15 * time.Minute
		}
		if c.minRefresh <= 0 {
			c.minRefresh = 15 * time.Second
		}
		if c.log == nil {
			c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		a.jwks = c
		a.methods = append(a.methods, "RS256", "ES256")
	}
	if len(cfg.HS256Secret) > 0 {
		a.methods = append(a.methods, "HS256")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.methods),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		// A token issued in the future (beyond the leeway) was minted by a
		// broken or hostile clock: refuse it rather than let it outlive exp's
		// intent.
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Error says why credentials were refused. Its message is safe to show the
// client: it never echoes the token.
type Error struct {
	Reason string
	cause  error // ErrKeysUnavailable, or nil
}

func (e *Error) Error() string { return "unauthenticated: " + e.Reason }

// Unwrap returns ErrKeysUnavailable when the refusal is not the caller's
// fault, so callers can tell with errors.Is.
func (e *Error) Unwrap() error { return e.cause }

// ErrNoCredentials is returned when a request carries no credentials.
var ErrNoCredentials = &Error{Reason: "no credentials: send Authorization: Bearer <token>"}

// Authenticate verifies a bearer credential — an API key (vg_…) or a JWT —
// and returns who it names.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (jobs.Actor, error) {
	c, err := a.AuthenticateCredential(ctx, token)
	return c.Actor, err
}

func (a *Authenticator) apiKey(ctx context.Context, key string) (Credential, error) {
	if a.cfg.Keys == nil {
		return Credential{}, &Error{Reason: "API keys are not accepted here"}
	}
	k, err := a.cfg.Keys.CheckAPIKey(ctx, key)
	if errors.Is(err, jobs.ErrBadAPIKey) {
		return Credential{}, &Error{Reason: "API key is invalid or revoked"}
	}
	if err != nil {
		return Credential{}, err
	}
	return Credential{Actor: jobs.Actor{Subject: k.OwnerID, Role: k.Role}, APIKey: k.Prefix}, nil
}

func (a *Authenticator) jwt(ctx context.Context, token string) (Credential, error) {
	claims := jwt.MapClaims{}
	tok, err := a.parser.ParseWithClaims(token, claims, a.keyfunc(ctx))
	if err != nil {
		if tok != nil {
			if alg, ok := tok.Header["alg"].(string); ok && !slices.Contains(a.methods, alg) {
				return Credential{}, &Error{Reason: "token's signing algorithm is not accepted (want " + strings.Join(a.methods, ", ") + ")"}
			}
		}
		if errors.Is(err, ErrKeysUnavailable) {
			return Credential{}, &Error{Reason: "identity provider keys unavailable; try again shortly", cause: ErrKeysUnavailable}
		}
		return Credential{}, &Error{Reason: reason(err)}
	}
	sub, _ := claims[a.cfg.SubjectClaim].(string)
	role, _ := claims[a.cfg.RoleClaim].(string)
	// Exact: an IdP that grants "Admin" has not granted "admin".
	actor := jobs.Actor{Subject: sub, Role: jobs.Role(role)}
	if sub == "" || len(sub) > 200 {
		return Credential{}, &Error{Reason: fmt.Sprintf("token has no usable %q claim", a.cfg.SubjectClaim)}
	}
	if !actor.Role.Valid() {
		return Credential{}, &Error{Reason: fmt.Sprintf("token's %q claim must be user, reviewer or admin", a.cfg.RoleClaim)}
	}
	c := Credential{Actor: actor}
	// The parser required exp.
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		c.Expires = exp.Time.Add(a.cfg.Leeway)
	}
	return c, nil
}

// keyfunc returns the key that verifies a token: the HS256 secret, or the
// JWKS key its kid names. The parser has already refused algorithms not in
// a.methods; each JWKS key verifies only the algorithm of its own type, so
// an RSA public key is never taken for an HMAC secret.
func (a *Authenticator) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		switch alg := t.Method.Alg(); alg {
		case "HS256":
			if len(a.cfg.HS256Secret) == 0 {
				return nil, errAlgMismatch
			}
			return a.cfg.HS256Secret, nil
		case "RS256", "ES256":
			if a.jwks == nil {
				return nil, errAlgMismatch
			}
			kid, _ := t.Header["kid"].(string)
			if kid == "" {
				return nil, errNoKeyID
			}
			k, err := a.jwks.key(ctx, kid, alg)
			if err != nil {
				return nil, err
			}
			return k.pub, nil
		}
		return nil, errAlgMismatch
	}
}

func reason(err error) string {
	switch {
	case errors.Is(err, errUnknownKey):
		return "token is signed by a key the identity provider does not publish"
	case errors.Is(err, errNoKeyID):
		return "token has no kid header naming its signing key"
	case errors.Is(err, errAlgMismatch):
		return "token's signing algorithm does not match its key"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token has no expiry"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "token is malformed"
	}
	return "token is invalid"
}

// FromRequest authenticates an HTTP request by its Authorization header
// (Bearer JWT or API key) or X-API-Key. It returns ErrNoCredentials when
// there is none.
func (a *Authenticator) FromRequest(r *http.Request) (jobs.Actor, error) {
	c, err := a.CredentialFromRequest(r)
	return c.Actor, err
}

// CredentialFromRequest is FromRequest, returning the credential's
// lifetime as well.
func (a *Authenticator) CredentialFromRequest(r *http.Request) (Credential, error) {
	h := r.Header.Get("Authorization")
	if key := r.Header.Get("X-API-Key"); key != "" && h == "" {
		return a.apiKey(r.Context(), strings.TrimSpace(key))
	}
	if h == "" {
		return Credential{}, ErrNoCredentials
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Credential{}, &Error{Reason: "Authorization header must be: Bearer <token>"}
	}
	return a.AuthenticateCredential(r.Context(), strings.TrimSpace(token))
}

// Issue signs a token for subject with role, valid for ttl: for
// `vidgate token` and the embedded default's printed tokens.
func (a *Authenticator) Issue(subject string, role jobs.Role, ttl time.Duration) (string, error) {
	if subject == "" {
		return "", errors.New("issue token: empty subject")
	}
	if !role.Valid() {
		return "", fmt.Errorf("issue token: role %q: want user, reviewer or admin", role)
	}
	if len(a.cfg.HS256Secret) == 0 {
		return "", errors.New("issue token: no HS256 secret is configured (tokens come from the identity provider)")
	}
	now := a.cfg.Now()
	claims := jwt.MapClaims{
		a.cfg.SubjectClaim: subject,
		a.cfg.RoleClaim:    string(role),
		"iat":              now.Unix(),
		"exp":              now.Add(ttl).Unix(),
	}
	if a.cfg.Issuer != "" {
		claims["iss"] = a.cfg.Issuer
	}
	if a.cfg.Audience != "" {
		claims["aud"] = a.cfg.Audience
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.cfg.HS256Secret)
}

type actorKey struct{}

// WithActor returns ctx carrying the authenticated actor.
func WithActor(ctx context.Context, a jobs.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx: the zero Actor, which the Service
// refuses as UNAUTHENTICATED, when there is none.
func ActorFrom(ctx context.Context) jobs.Actor {
	a, _ := ctx.Value(actorKey{}).(jobs.Actor)
	return a
}
