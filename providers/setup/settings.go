package setup

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/fal"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
)

// Settings is every vendor provider's configuration, as operators give it.
// A provider whose APIKey is empty is not offered.
type Settings struct {
	Replicate ReplicateSettings
	Fal       FalSettings
	Runway    RunwaySettings
	Luma      LumaSettings
	Veo       VeoSettings
}

// ReplicateSettings configures providers/replicate.
type ReplicateSettings struct {
	APIKey, BaseURL string
	Models          map[providers.Workflow]string
	// WebhookSecrets ("whsec_…") verify webhooks; several during a
	// rotation. Without one, Replicate is polled.
	WebhookSecrets []string
	Timeout        time.Duration
	// Concurrency caps the calls in flight to Replicate; 0 means no cap.
	Concurrency int
	// AllowUnlistedModels lets jobs name models the driver's catalog does
	// not list (see providers.Cataloger).
	AllowUnlistedModels bool
}

// FalSettings configures providers/fal.
type FalSettings struct {
	APIKey, BaseURL string
	// JWKSURL is where fal publishes its webhook signing keys.
	JWKSURL string
	// UserID is the fal account id webhooks must name
	// (X-Fal-Webhook-User-Id); "" accepts any account's signed deliveries.
	UserID      string
	Models      map[providers.Workflow]string
	Timeout     time.Duration
	Concurrency int
	// AllowUnlistedModels lets jobs name models the driver's catalog does
	// not list (see providers.Cataloger).
	AllowUnlistedModels bool
}

// RunwaySettings configures providers/runway.
type RunwaySettings struct {
	APIKey, BaseURL string
	Models          map[providers.Workflow]string
	Timeout         time.Duration
	Concurrency     int
	// AllowUnlistedModels lets jobs name models the driver's catalog does
	// not list (see providers.Cataloger).
	AllowUnlistedModels bool
}

// LumaSettings configures providers/luma.
type LumaSettings struct {
	APIKey, BaseURL string
	// CallbackToken authenticates Luma's unsigned callbacks; without one,
	// Luma is polled.
	CallbackToken string
	Models        map[providers.Workflow]string
	Timeout       time.Duration
	Concurrency   int
	// AllowUnlistedModels lets jobs name models the driver's catalog does
	// not list (see providers.Cataloger).
	AllowUnlistedModels bool
}

// VeoSettings configures providers/veo.
type VeoSettings struct {
	APIKey, BaseURL string
	// CallbackToken authenticates the Gemini API's completion
	// notifications (webhookConfig); without one, Veo is polled.
	CallbackToken string
	Models        map[providers.Workflow]string
	Timeout       time.Duration
	Concurrency   int
	// AllowUnlistedModels lets jobs name models the driver's catalog does
	// not list (see providers.Cataloger).
	AllowUnlistedModels bool
}

// maxFileBytes caps a _FILE variable's file: a secret or a setting, never
// a large file (a mistaken path such as /dev/zero must not hang start-up).
const maxFileBytes = 64 << 10

// FromEnv reads Settings from the variables Describe lists, through lookup
// (os.LookupEnv in production, a map in tests). Each variable NAME may
// instead be given as NAME_FILE, the path of a file that holds the value
// (surrounding whitespace, such as a final newline, is dropped); setting
// both is an error. An empty variable counts as unset.
//
// FromEnv reports every malformed variable at once, each error naming its
// variable and never quoting a secret. Settings only a driver can check
// (model ids) are checked by Settings.Drivers.
func FromEnv(lookup func(string) (string, bool)) (Settings, error) {
	var (
		s    Settings
		errs []error
	)
	for _, sp := range specs {
		t := sp.target(&s)
		for _, v := range sp.vars {
			name := sp.env(v.suffix)
			raw, ok, err := read(lookup, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok {
				continue
			}
			if err := v.kind.parse(t, v.suffix, raw); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// read returns the value of name, from the variable or from the file that
// name_FILE names.
func read(lookup func(string) (string, bool), name string) (string, bool, error) {
	val, direct := lookup(name)
	val = strings.TrimSpace(val)
	direct = direct && val != ""
	path, file := lookup(name + "_FILE")
	path = strings.TrimSpace(path)
	file = file && path != ""
	switch {
	case direct && file:
		return "", false, fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
	case direct:
		return val, true, nil
	case !file:
		return "", false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: %w", name, err)
	}
	if len(b) > maxFileBytes {
		return "", false, fmt.Errorf("%s_FILE: %s is larger than %d KiB", name, path, maxFileBytes>>10)
	}
	val = strings.TrimSpace(string(b))
	if val == "" {
		return "", false, fmt.Errorf("%s_FILE: %s is empty", name, path)
	}
	return val, true, nil
}

// target points into one provider's settings; the fields it lacks are nil.
type target struct {
	apiKey, baseURL, jwksURL, callbackToken, userID *string
	models                                          *map[providers.Workflow]string
	webhookSecrets                                  *[]string
	timeout                                         *time.Duration
	concurrency                                     *int
	allowUnlisted                                   *bool
}

// kind is one kind of setting: how it is parsed, and where it goes.
type kind int

const (
	kindAPIKey kind = iota
	kindBaseURL
	kindModel
	kindWebhookSecrets
	kindJWKSURL
	kindCallbackToken
	kindUserID
	kindTimeout
	kindConcurrency
	kindAllowUnlisted
)

// parse parses raw (not empty) into t. Errors never quote a secret.
func (k kind) parse(t target, suffix, raw string) error {
	switch k {
	case kindAPIKey:
		*t.apiKey = raw
	case kindBaseURL, kindJWKSURL:
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("not an absolute http(s) URL")
		}
		if k == kindBaseURL {
			*t.baseURL = raw
		} else {
			*t.jwksURL = raw
		}
	case kindModel:
		if *t.models == nil {
			*t.models = map[providers.Workflow]string{}
		}
		(*t.models)[workflowOf(suffix)] = raw
	case kindWebhookSecrets:
		secrets := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
		for i, sec := range secrets {
			if !strings.HasPrefix(sec, "whsec_") {
				return fmt.Errorf("secret %d of %d does not start with whsec_", i+1, len(secrets))
			}
			if _, err := stdwebhooks.DecodeSecret(sec); err != nil {
				return fmt.Errorf("secret %d of %d: %w", i+1, len(secrets), err)
			}
		}
		*t.webhookSecrets = secrets
	case kindCallbackToken:
		if len(raw) < providers.MinCallbackTokenLen {
			return fmt.Errorf("shorter than %d characters (generate one: openssl rand -hex 32)", providers.MinCallbackTokenLen)
		}
		*t.callbackToken = raw
	case kindUserID:
		if !fal.ValidUserID(raw) {
			return errors.New("not a fal account id (printable, no spaces, at most 200 characters)")
		}
		*t.userID = raw
	case kindTimeout:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 2m", raw)
		}
		if d <= 0 {
			return fmt.Errorf("%s is not positive", raw)
		}
		*t.timeout = d
	case kindConcurrency:
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number ≥ 0 (0: no limit)", raw)
		}
		*t.concurrency = n
	case kindAllowUnlisted:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		*t.allowUnlisted = b
	}
	return nil
}

// AllowsUnlistedModels reports whether jobs for provider may name a model
// its catalog does not list (VIDGATE_<PROVIDER>_ALLOW_UNLISTED_MODELS).
// Such a job is sent as asked for, its model's limits unchecked by
// vidgate; options beyond the basic ones are still refused, since nothing
// says the model takes them.
func (s Settings) AllowsUnlistedModels(provider string) bool {
	for _, sp := range specs {
		if sp.name == provider {
			return *sp.target(&s).allowUnlisted
		}
	}
	return false
}

func workflowOf(suffix string) providers.Workflow {
	return providers.Workflow(strings.ToLower(strings.TrimPrefix(suffix, "MODEL_")))
}
