// Package router picks the provider of each new job and steers new jobs
// around a provider that is down.
//
// # Choosing
//
// A job that names a provider goes there; one that names none goes to its
// workflow's default (Config.Default). When that default's circuit is open,
// the job goes to the first provider of Config.Fallback whose circuit is
// closed; when every candidate is open, it goes to the default anyway: the
// worker's retries and backoff then apply, which is better than refusing
// the job. A job that names a provider whose circuit is open is honoured
// (the client asked for that provider, perhaps for its model or its price)
// unless Config.RerouteRequested says to fall back as for the default.
// Choose returns, with the choice, a sentence for the job's event log.
//
// # Breakers
//
// Each provider has a circuit breaker, fed with the outcome of every call
// to it: by the drivers Wrap returns, or by Observe. Only CodeUnavailable
// (5xx answers, timeouts, connection errors) counts as a failure; any other
// outcome, a refusal or a 429 included, shows the provider answering and
// counts as a success.
//
//	closed     new jobs go here. Config.Breaker.Failures consecutive
//	           failures, all within Config.Breaker.Window, open it.
//	open       new jobs go elsewhere. Outcomes are ignored. After
//	           Config.Breaker.Cooldown it is half-open.
//	half-open  Choose sends one job here, the trial (a trial that never
//	           reports is given up after another Cooldown, and the next job
//	           is the trial). The first outcome observed closes the circuit
//	           (success) or opens it again (failure); outcomes of calls
//	           started before it opened are ignored as stale.
//
// Breakers steer new jobs only: they never refuse a call. Jobs already at a
// provider keep polling and canceling there, since no other provider knows
// their requests, and those calls' outcomes feed the breaker too.
//
// A call that tells nothing about the provider is not observed: one whose
// caller canceled its context (a shutdown, a job canceled meanwhile), and
// one whose error says the provider was never called (an error in whose
// chain a value has a ProviderNotCalled() bool method returning true, as
// providers/setup's concurrency limiter returns when no call slot freed up
// in time). VerifyWebhook is never observed: anyone on the internet can make
// a webhook fail or succeed.
//
// Breaker state lives in the process's memory by default. With
// Config.Shared it lives in Redis instead (see SharedConfig), so that API
// processes, which observe nothing, route by the outcomes their workers
// observe: every process with the same Redis and key prefix sees one
// circuit per provider. Each process caches what it read for about a
// second, so creating a job adds no Redis round trip; claiming a
// half-open circuit's trial job is atomic across processes. When Redis
// cannot be reached, circuits read as closed and outcomes are dropped,
// logged once: breakers never make choosing fail.
package router
