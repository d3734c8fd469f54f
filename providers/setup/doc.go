// Package setup builds vidgate's vendor drivers from configuration: the
// VIDGATE_<PROVIDER>_<SETTING> environment variables (FromEnv), each of
// which may instead be given in a file named by
// VIDGATE_<PROVIDER>_<SETTING>_FILE, as Kubernetes mounts secrets.
//
// A provider is offered when its API key is set, and only then. Settings.Drivers
// returns the offered drivers in a fixed order (replicate, fal, runway,
// luma, veo), each limited to Concurrency calls at once when that is set.
// The simulated provider is not configured here: vidgate's --sim flags
// configure it.
//
// Describe lists every provider with the variables it reads, for --help
// and the README; FromEnv reads exactly those.
//
// Two adjustments keep the engine from promising webhooks that cannot
// arrive: Replicate without VIDGATE_REPLICATE_WEBHOOK_SECRETS, and Luma
// without VIDGATE_LUMA_CALLBACK_TOKEN, would reject every delivery (or
// never ask for one), so their drivers are offered without the
// providers.WebhookVerifier capability. The worker then sends them no
// webhook URL and polls them at its polling pace, not at the slow pace of
// a safety net for lost webhooks.
package setup
