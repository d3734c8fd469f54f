// Package auth turns credentials into a jobs.Actor: a JWT signed with HS256
// and a shared secret, or a partner app's API key (vg_…, checked against
// its hash in the store). JWKS-verified tokens slot in beside them, since
// everything downstream sees only the Actor.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vidgate/vidgate/jobs"
)

// Config configures an Authenticator.
type Config struct {
	// HS256Secret verifies and signs tokens; at least 32 bytes.
	HS256Secret []byte
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// SubjectClaim and RoleClaim name the claims that carry the subject and
	// the role (defaults "sub" and "role").
	SubjectClaim string
	RoleClaim    string
	// Leeway tolerates clock skew on exp and nbf (default 30s).
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
	cfg    Config
	parser *jwt.Parser
}

// New returns an Authenticator for cfg.
func New(cfg Config) (*Authenticator, error) {
	if len(cfg.HS256Secret) < 32 {
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
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Authenticator{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Error says why credentials were refused. Its message is safe to show the
// client: it never echoes the token.
type Error struct{ Reason string }

func (e *Error) Error() string { return "unauthenticated: " + e.Reason }

// ErrNoCredentials is returned when a request carries no credentials.
var ErrNoCredentials = &Error{Reason: "no credentials: send Authorization: Bearer <token>"}

// Authenticate verifies a bearer credential — an API key (vg_…) or a JWT —
// and returns who it names.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (jobs.Actor, error) {
	if strings.HasPrefix(token, jobs.APIKeyPrefix) {
		return a.apiKey(ctx, token)
	}
	return a.jwt(token)
}

func (a *Authenticator) apiKey(ctx context.Context, key string) (jobs.Actor, error) {
	if a.cfg.Keys == nil {
		return jobs.Actor{}, &Error{Reason: "API keys are not accepted here"}
	}
	k, err := a.cfg.Keys.CheckAPIKey(ctx, key)
	if errors.Is(err, jobs.ErrBadAPIKey) {
		return jobs.Actor{}, &Error{Reason: "API key is invalid or revoked"}
	}
	if err != nil {
		return jobs.Actor{}, err
	}
	return jobs.Actor{Subject: k.OwnerID, Role: k.Role}, nil
}

func (a *Authenticator) jwt(token string) (jobs.Actor, error) {
	claims := jwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return a.cfg.HS256Secret, nil
	})
	if err != nil {
		return jobs.Actor{}, &Error{Reason: reason(err)}
	}
	sub, _ := claims[a.cfg.SubjectClaim].(string)
	role, _ := claims[a.cfg.RoleClaim].(string)
	actor := jobs.Actor{Subject: sub, Role: jobs.Role(strings.ToLower(role))}
	if sub == "" || len(sub) > 200 {
		return jobs.Actor{}, &Error{Reason: fmt.Sprintf("token has no usable %q claim", a.cfg.SubjectClaim)}
	}
	if !actor.Role.Valid() {
		return jobs.Actor{}, &Error{Reason: fmt.Sprintf("token's %q claim must be user, reviewer or admin", a.cfg.RoleClaim)}
	}
	return actor, nil
}

func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
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
	h := r.Header.Get("Authorization")
	if key := r.Header.Get("X-API-Key"); key != "" && h == "" {
		return a.apiKey(r.Context(), strings.TrimSpace(key))
	}
	if h == "" {
		return jobs.Actor{}, ErrNoCredentials
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return jobs.Actor{}, &Error{Reason: "Authorization header must be: Bearer <token>"}
	}
	return a.Authenticate(r.Context(), strings.TrimSpace(token))
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
