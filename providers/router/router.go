package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// Config configures a Router.
type Config struct {
	// Default is the provider of each workflow for jobs that name none. A
	// workflow without one needs jobs that name their provider.
	Default map[providers.Workflow]string
	// Fallback are tried in order, for either workflow, when the chosen
	// provider's circuit is open; the first whose circuit is closed takes
	// the job.
	Fallback []string
	// RerouteRequested sends a job that names a provider whose circuit is
	// open to a fallback too. By default such a job goes where it asked: the
	// client chose that provider (its model, its price, its terms), and a
	// job that waits out an outage there, retried by the worker, is what it
	// asked for.
	RerouteRequested bool
	// Breaker configures every provider's circuit breaker.
	Breaker BreakerConfig
	// Shared, when set, keeps the breakers' state in Redis, so that every
	// process with the same Redis and prefix sees one circuit per provider:
	// the outcomes the workers observe steer the jobs the API processes
	// choose for. Without it, state lives in this process's memory.
	Shared *SharedConfig
	// Now is the clock of the breakers; nil means time.Now.
	Now func() time.Time
}

// Router chooses the provider of each new job and keeps a circuit breaker
// per provider. It is safe for concurrent use.
type Router struct {
	reg              *providers.Registry
	defaults         map[providers.Workflow]string
	fallback         []string
	rerouteRequested bool
	now              func() time.Time
	breakers         breakerStore
}

// New returns a Router over reg. It returns an error if cfg names a
// provider reg does not hold or a workflow that does not exist, or has a
// negative breaker setting: wiring mistakes, found at start-up.
func New(reg *providers.Registry, cfg Config) (*Router, error) {
	bc, err := cfg.Breaker.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Router{
		reg:              reg,
		defaults:         make(map[providers.Workflow]string, len(cfg.Default)),
		fallback:         slices.Clone(cfg.Fallback),
		rerouteRequested: cfg.RerouteRequested,
		now:              cfg.Now,
	}
	if r.now == nil {
		r.now = time.Now
	}
	var errs []error
	known := func(what, name string) {
		if _, ok := reg.Get(name); !ok {
			errs = append(errs, fmt.Errorf("router: %s %q is not a configured provider (configured: %s)", what, name, strings.Join(reg.Names(), ", ")))
		}
	}
	for wf, name := range cfg.Default {
		if wf != providers.WorkflowTextToVideo && wf != providers.WorkflowImageToVideo {
			errs = append(errs, fmt.Errorf("router: default for unknown workflow %q", wf))
			continue
		}
		known("default for "+string(wf), name)
		r.defaults[wf] = name
	}
	for _, name := range cfg.Fallback {
		known("fallback", name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Shared != nil {
		if r.breakers, err = newSharedBreakers(*cfg.Shared, bc); err != nil {
			return nil, err
		}
	} else {
		r.breakers = newMemoryBreakers(bc)
	}
	return r, nil
}

// ChoiceError is the error of Choose when a job's provider cannot be
// settled: the job names a provider that is not configured, or names none
// for a workflow without a default. It is the client's to fix: the API
// reports it as BAD_USER_INPUT. Find it with errors.As.
type ChoiceError struct {
	Workflow providers.Workflow
	// Requested is the name the job gave, "" if none.
	Requested string
	// Available are the providers a job may name, sorted.
	Available []string
}

func (e *ChoiceError) Error() string {
	if e.Requested != "" {
		// %.64q: the name is the client's input; keep a long one out of logs.
		return fmt.Sprintf("unknown provider %.64q; available: %s", e.Requested, strings.Join(e.Available, ", "))
	}
	return fmt.Sprintf("no default provider for %s; name one of: %s", e.Workflow, strings.Join(e.Available, ", "))
}

// Choose picks the provider of a new job of workflow: requested if it is
// not "" (a *ChoiceError if it is not configured), else the workflow's
// default (a *ChoiceError if there is none), else, when that one's circuit
// is open, the first fallback whose circuit is closed, else, when every
// candidate is open, the default anyway. A requested provider whose circuit
// is open is honoured unless Config.RerouteRequested. reason says why, for
// the job's event log: "default for text_to_video", "requested", "sim is
// unavailable (circuit open since 12:01:03 UTC); fell back to replicate".
//
// Choosing a half-open provider sends it the trial job (see the package
// documentation), so call Choose only for a job that will be submitted.
func (r *Router) Choose(workflow providers.Workflow, requested string) (name, reason string, err error) {
	now := r.now()
	if requested != "" {
		if _, ok := r.reg.Get(requested); !ok {
			return "", "", &ChoiceError{Workflow: workflow, Requested: requested, Available: r.reg.Names()}
		}
		ok, trial, opened := r.breakers.admit(requested, now)
		switch {
		case ok && trial:
			return requested, fmt.Sprintf("requested; a trial job for %s, whose circuit opened at %s", requested, clock(opened)), nil
		case ok:
			return requested, "requested", nil
		case !r.rerouteRequested:
			return requested, fmt.Sprintf("requested; %s is unavailable (%s), but the job asked for it", requested, r.describe(requested, now)), nil
		}
		return r.fallBack(requested, requested+" was requested but", now)
	}
	def, ok := r.defaults[workflow]
	if !ok {
		return "", "", &ChoiceError{Workflow: workflow, Available: r.reg.Names()}
	}
	switch ok, trial, opened := r.breakers.admit(def, now); {
	case ok && trial:
		return def, fmt.Sprintf("default for %s; a trial job for %s, whose circuit opened at %s", workflow, def, clock(opened)), nil
	case ok:
		return def, "default for " + string(workflow), nil
	}
	return r.fallBack(def, def, now)
}

// fallBack picks the first fallback other than primary whose circuit is
// closed, or primary when there is none. subject begins the reason.
func (r *Router) fallBack(primary, subject string, now time.Time) (string, string, error) {
	down := []string{fmt.Sprintf("%s: %s", primary, r.describe(primary, now))}
	seen := map[string]bool{primary: true}
	for _, name := range r.fallback {
		if seen[name] {
			continue
		}
		seen[name] = true
		st, desc := r.breakers.snapshot(name, now)
		if st == StateClosed {
			return name, fmt.Sprintf("%s is unavailable (%s); fell back to %s", subject, r.describe(primary, now), name), nil
		}
		down = append(down, fmt.Sprintf("%s: %s", name, desc))
	}
	if len(down) == 1 {
		return primary, fmt.Sprintf("%s is unavailable (%s) and no other fallback is configured; sent there anyway", subject, r.describe(primary, now)), nil
	}
	return primary, fmt.Sprintf("every candidate provider is unavailable (%s); sent to %s anyway", strings.Join(down, "; "), primary), nil
}

func (r *Router) describe(name string, now time.Time) string {
	_, desc := r.breakers.snapshot(name, now)
	return desc
}

// State returns the state of provider's circuit, for metrics and tests. A
// provider the router has never heard of is closed. With Config.Shared it
// may be up to SharedConfig.CacheTTL old.
func (r *Router) State(provider string) BreakerState {
	st, _ := r.breakers.snapshot(provider, r.now())
	return st
}
