package setup

import (
	"strings"

	"github.com/vidgate/vidgate/providers/fal"
	"github.com/vidgate/vidgate/providers/luma"
	"github.com/vidgate/vidgate/providers/replicate"
	"github.com/vidgate/vidgate/providers/runway"
	"github.com/vidgate/vidgate/providers/veo"
)

// ProviderInfo describes one provider for --help and the README.
type ProviderInfo struct {
	// Name is the provider's name as jobs and GraphQL give it.
	Name string
	// Variables are the environment variables FromEnv reads for it, each
	// also from a file named by the variable with _FILE appended.
	Variables []Variable
	// Webhooks reports whether the provider pushes status changes to vidgate
	// (else vidgate polls it). WebhooksNeed is the variable without which it
	// does not, and is polled; "" if none.
	Webhooks     bool
	WebhooksNeed string
	// Cancel reports whether vidgate can stop a running generation there.
	Cancel bool
	// ImageToVideo reports whether it animates a source image.
	ImageToVideo bool
	// IdempotencyKeys reports whether it deduplicates submissions: if not,
	// a submission whose answer was lost is not retried, so that it cannot
	// bill twice, and the job fails.
	IdempotencyKeys bool
	// Notes is what else an operator should know, in a sentence or two.
	Notes string
}

// Updates says how vidgate learns of a generation's progress there:
// "webhooks", "polling", or "webhooks if VIDGATE_X is set, else polling".
func (p ProviderInfo) Updates() string {
	switch {
	case !p.Webhooks:
		return "polling"
	case p.WebhooksNeed != "":
		return "webhooks if " + p.WebhooksNeed + " is set, else polling"
	}
	return "webhooks"
}

// Variable is one environment variable.
type Variable struct {
	Name  string
	Usage string
	// Default is what an unset variable means, "" if nothing to say.
	Default string
	// Secret marks a value that must not be printed or logged: give it in
	// a file (Name + "_FILE") where you can.
	Secret bool
}

// Describe lists every provider FromEnv configures, in the order Drivers
// returns them.
func Describe() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(specs))
	for _, sp := range specs {
		info := sp.info
		info.Name = sp.name
		if sp.hooksNeed != "" {
			info.WebhooksNeed = sp.env(sp.hooksNeed)
		}
		for _, v := range sp.vars {
			info.Variables = append(info.Variables, Variable{
				Name: sp.env(v.suffix), Usage: v.usage, Default: v.def, Secret: v.kind.secret(),
			})
		}
		out = append(out, info)
	}
	return out
}

func (k kind) secret() bool {
	return k == kindAPIKey || k == kindWebhookSecrets || k == kindCallbackToken
}

// spec is one provider: its variables and facts. FromEnv, Drivers and
// Describe all read it, so what is documented is what is read.
type spec struct {
	name string
	// vars, in the order --help shows them.
	vars []varSpec
	info ProviderInfo
	// hooksNeed is the suffix of the variable webhooks need, "" if none.
	hooksNeed string
	target    func(*Settings) target
}

type varSpec struct {
	suffix string // after VIDGATE_<PROVIDER>_
	kind   kind
	usage  string
	def    string
}

// env returns the variable name of suffix: VIDGATE_REPLICATE_API_KEY.
func (sp spec) env(suffix string) string {
	return "VIDGATE_" + strings.ToUpper(sp.name) + "_" + suffix
}

// common returns the variables every provider reads, with extra after the
// models.
func common(vendor, keyUsage, baseURL, t2v, i2v, timeout string, extra ...varSpec) []varSpec {
	vs := []varSpec{
		{"API_KEY", kindAPIKey, keyUsage + "; the provider is offered only when it is set", ""},
		{"BASE_URL", kindBaseURL, "base URL of the " + vendor + " API (for tests and proxies)", baseURL},
		{"MODEL_TEXT_TO_VIDEO", kindModel, "model for text_to_video jobs that name none", t2v},
		{"MODEL_IMAGE_TO_VIDEO", kindModel, "model for image_to_video jobs that name none", i2v},
		{"ALLOW_UNLISTED_MODELS", kindAllowUnlisted, "true lets jobs name models the " + vendor + " catalog of vidgate does not list: they are sent unchecked, and the vendor judges", "false: such a job is refused"},
	}
	vs = append(vs, extra...)
	return append(vs,
		varSpec{"TIMEOUT", kindTimeout, "bound of each HTTP call to the " + vendor + " API (Go duration: 30s, 2m)", timeout},
		varSpec{"CONCURRENCY", kindConcurrency, "most calls to the " + vendor + " API in flight at once, per process; more wait their turn", "0 (no limit)"},
	)
}

var specs = []spec{
	{
		name: "replicate",
		vars: common("Replicate", "Replicate API token", replicate.DefaultBaseURL, replicate.DefaultModel, replicate.DefaultModel,
			replicate.DefaultTimeout.String(),
			varSpec{"WEBHOOK_SECRETS", kindWebhookSecrets, "Standard Webhooks secrets (whsec_…, from GET /v1/webhooks/default/secret), comma separated: the new and the old one during a rotation", "none: Replicate is polled"}),
		info: ProviderInfo{Webhooks: true, Cancel: true, ImageToVideo: true,
			Notes: "Outputs are deleted an hour after the prediction ends; 600 submissions a minute."},
		hooksNeed: "WEBHOOK_SECRETS",
		target: func(s *Settings) target {
			p := &s.Replicate
			return target{apiKey: &p.APIKey, baseURL: &p.BaseURL, models: &p.Models, webhookSecrets: &p.WebhookSecrets, timeout: &p.Timeout, concurrency: &p.Concurrency, allowUnlisted: &p.AllowUnlistedModels}
		},
	},
	{
		name: "fal",
		vars: common("fal.ai queue", `fal key ("key_id:key_secret")`, fal.DefaultBaseURL, fal.DefaultTextToVideoModel, fal.DefaultImageToVideoModel,
			fal.DefaultTimeout.String(),
			varSpec{"JWKS_URL", kindJWKSURL, "where fal publishes the Ed25519 keys its webhooks are signed with (unconfirmed between rest.alpha.fal.ai and rest.fal.ai)", fal.DefaultJWKSURL},
			varSpec{"USER_ID", kindUserID, "the fal account id the API key belongs to (X-Fal-Webhook-User-Id of its webhooks): signed deliveries for any other account are refused", "none: any account's signed deliveries are accepted"}),
		info: ProviderInfo{Webhooks: true, Cancel: true, ImageToVideo: true,
			Notes: "Webhooks are signed with Ed25519 and need no secret; cancel removes a queued request and signals a running one."},
		target: func(s *Settings) target {
			p := &s.Fal
			return target{apiKey: &p.APIKey, baseURL: &p.BaseURL, models: &p.Models, jwksURL: &p.JWKSURL, userID: &p.UserID, timeout: &p.Timeout, concurrency: &p.Concurrency, allowUnlisted: &p.AllowUnlistedModels}
		},
	},
	{
		name: "runway",
		vars: common("Runway", "Runway API secret", runway.DefaultBaseURL, runway.DefaultTextToVideoModel, runway.DefaultImageToVideoModel,
			runway.DefaultTimeout.String()),
		info: ProviderInfo{Cancel: true, ImageToVideo: true,
			Notes: "No webhooks for generations; polled no faster than every 5 s. Output URLs expire within 24 to 48 hours."},
		target: func(s *Settings) target {
			p := &s.Runway
			return target{apiKey: &p.APIKey, baseURL: &p.BaseURL, models: &p.Models, timeout: &p.Timeout, concurrency: &p.Concurrency, allowUnlisted: &p.AllowUnlistedModels}
		},
	},
	{
		name: "luma",
		vars: common("Luma", "Luma Dream Machine API key", luma.DefaultBaseURL, luma.DefaultModel, luma.DefaultModel,
			luma.DefaultTimeout.String(),
			varSpec{"CALLBACK_TOKEN", kindCallbackToken, "secret put in Luma's callback URL, whose callbacks are unsigned; at least 16 characters (openssl rand -hex 32)", "none: Luma is polled"}),
		info: ProviderInfo{Webhooks: true, Cancel: true, ImageToVideo: true,
			Notes: "Callbacks are unsigned: each is confirmed with a GET before it is trusted. Cancel deletes an unfinished generation."},
		hooksNeed: "CALLBACK_TOKEN",
		target: func(s *Settings) target {
			p := &s.Luma
			return target{apiKey: &p.APIKey, baseURL: &p.BaseURL, models: &p.Models, callbackToken: &p.CallbackToken, timeout: &p.Timeout, concurrency: &p.Concurrency, allowUnlisted: &p.AllowUnlistedModels}
		},
	},
	{
		name: "veo",
		vars: common("Gemini", "Gemini API key", veo.DefaultBaseURL, veo.DefaultModel, veo.DefaultModel,
			veo.DefaultTimeout.String(),
			varSpec{"CALLBACK_TOKEN", kindCallbackToken, "secret put in the callback URL of the Gemini API's completion notifications (webhookConfig), whose signature scheme is unconfirmed; at least 16 characters (openssl rand -hex 32)", "none: Veo is polled"}),
		info: ProviderInfo{Webhooks: true, ImageToVideo: true,
			Notes: "Completion notifications (with CALLBACK_TOKEN) are hints: each is confirmed by reading the operation. Polled no faster than every 10 s (a video takes 11 s to 6 min); outputs are downloaded with the API key in a header, never in a stored URL. Cannot cancel: an operation runs, and is billed, to its end. Videos are deleted after 2 days; 16:9 and 9:16 only."},
		hooksNeed: "CALLBACK_TOKEN",
		target: func(s *Settings) target {
			p := &s.Veo
			return target{apiKey: &p.APIKey, baseURL: &p.BaseURL, models: &p.Models, callbackToken: &p.CallbackToken, timeout: &p.Timeout, concurrency: &p.Concurrency, allowUnlisted: &p.AllowUnlistedModels}
		},
	},
}
