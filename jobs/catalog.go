package jobs

import (
	"context"
	"slices"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// ProviderModels is one configured provider as the providers query shows
// it: its models, with only the values a job may ask for.
type ProviderModels struct {
	Name string
	// Models are the provider's catalog (see providers.Cataloger); empty
	// when its driver lists none.
	Models []providers.Model
	// Defaults are the models a job that names none gets, per workflow.
	Defaults map[providers.Workflow]string
	// AllowsUnlistedModels: jobs may name models not in Models.
	AllowsUnlistedModels bool
}

// Providers lists the configured providers and what their models can do,
// for any authenticated caller: a client builds its form from it.
func (s *Service) Providers(ctx context.Context, a Actor) ([]ProviderModels, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	names := slices.Sorted(slices.Values(s.cfg.Providers))
	out := make([]ProviderModels, 0, len(names))
	for _, name := range names {
		cat, _ := s.catalog(name)
		p := ProviderModels{Name: name, Defaults: cat.Defaults, AllowsUnlistedModels: s.allowsUnlisted(name)}
		for _, m := range cat.Models {
			p.Models = append(p.Models, offered(m))
		}
		out = append(out, p)
	}
	return out, nil
}

// basicResolutions are what a model whose resolutions are not known may
// be asked for: 4k only where the catalog lists it.
var basicResolutions = []string{"720p", "1080p"}

// offered is m as a job may ask it: only the values the API takes (a
// vendor's 540p or 9:21, or a length beyond MaxDurationSeconds, cannot be
// asked for), and for what the catalog does not know, the API's own values
// (any aspect ratio, 720p or 1080p, 1 to 30 seconds) for the vendor to
// judge.
func offered(m providers.Model) providers.Model {
	keep := func(vals, allowed []string) []string {
		out := []string{}
		for _, v := range allowed {
			if slices.Contains(vals, v) {
				out = append(out, v)
			}
		}
		return out
	}
	m.AspectRatios = keep(cmpOrSlice(m.AspectRatios, AspectRatios), AspectRatios)
	m.Resolutions = keep(cmpOrSlice(m.Resolutions, basicResolutions), Resolutions)
	switch {
	case m.Durations != nil:
		m.Durations = slices.DeleteFunc(slices.Clone(m.Durations), func(d int) bool {
			return d < MinDurationSeconds || d > MaxDurationSeconds
		})
	case m.MaxDurationSeconds > 0:
		m.MinDurationSeconds = max(m.MinDurationSeconds, MinDurationSeconds)
		m.MaxDurationSeconds = min(m.MaxDurationSeconds, MaxDurationSeconds)
	default:
		m.MinDurationSeconds, m.MaxDurationSeconds = MinDurationSeconds, MaxDurationSeconds
	}
	return m
}

func cmpOrSlice(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}

// catalog returns the catalog of provider's driver, if it has one.
func (s *Service) catalog(provider string) (providers.Catalog, bool) {
	if s.cfg.Drivers == nil {
		return providers.Catalog{}, false
	}
	d, ok := s.cfg.Drivers.Get(provider)
	if !ok {
		return providers.Catalog{}, false
	}
	return providers.CatalogOf(d)
}

func (s *Service) allowsUnlisted(provider string) bool {
	return s.cfg.AllowUnlistedModels != nil && s.cfg.AllowUnlistedModels(provider)
}

// optionFields are the input fields of the options providers.Model.Options
// names.
var optionFields = map[string]string{
	"seed": "input.seed", "negativePrompt": "input.negativePrompt", "endFrame": "input.endFrameAssetId", "audio": "input.audio",
}

// checkModel checks v against the catalog entry of the job's model (the
// one it names, else the provider's default), fills the defaults the
// model makes, and refuses, naming what the model takes:
//
//   - a model the catalog does not list, unless the operator allows
//     unlisted models for the provider (AllowUnlistedModels);
//   - a workflow, duration, aspect ratio or resolution the model does not
//     make: a duration is never rounded to one it makes, since a longer
//     clip is billed and a shorter one is not what was asked for;
//   - an option (seed, negative prompt, end frame, audio) it does not take,
//     and any option, or 4k, for a model whose capabilities are unknown
//     (unlisted, or of a provider without a catalog): sent, it would be
//     dropped or refused by the vendor after the job was queued.
func (s *Service) checkModel(v *validCreate, in CreateInput) error {
	wf := providers.Workflow(in.WorkflowType)
	cat, _ := s.catalog(v.provider)
	id := cmpOr(in.Model, cat.Defaults[wf])
	m, listed := cat.Model(id)
	if !listed {
		if in.Model != "" && !s.allowsUnlisted(v.provider) {
			if len(cat.Models) == 0 {
				return BadInput("input.model", "provider %s takes no model name: its jobs use its default model", v.provider)
			}
			return BadInput("input.model", "provider %s offers %s, not %q", v.provider, modelIDs(cat.Models), truncate(in.Model, 64))
		}
		// Nothing is known of the model: the API's values, for the vendor
		// to judge, and no option.
		m = providers.Model{ID: id}
	}
	name := v.provider + " model " + cmpOr(id, "(default)")
	om := offered(m)
	if m.Workflows != nil && !slices.Contains(m.Workflows, wf) {
		return BadInput("input.workflowType", "%s offers %s only", name, joinWorkflows(m.Workflows))
	}
	p := &v.params
	if p.DurationSeconds == 0 {
		p.DurationSeconds = defaultDuration(om)
	} else if !om.MakesDuration(p.DurationSeconds) {
		return BadInput("input.durationSeconds", "%s makes videos of %s seconds, not %d", name, om.DescribeDurations(), p.DurationSeconds)
	}
	var err error
	if p.AspectRatio, err = fromModel("input.aspectRatio", name, p.AspectRatio, om.AspectRatios); err != nil {
		return err
	}
	if p.Resolution, err = fromModel("input.resolution", name, p.Resolution, om.Resolutions); err != nil {
		return err
	}
	req := providers.Request{Seed: in.Seed, NegativePrompt: in.NegativePrompt, Audio: in.Audio}
	if in.EndFrameAssetID != "" {
		req.EndFrameURL = in.EndFrameAssetID // only whether it is set matters
	}
	if missing := m.Options(req); missing != nil {
		field := optionFields[missing[0]]
		takes := "no option"
		switch {
		case !listed:
			takes = "no option: it is not in vidgate's catalog"
		case m.Seed || m.NegativePrompt || m.EndFrame || m.Audio:
			var yes []string
			for _, o := range []struct {
				field string
				ok    bool
			}{{"seed", m.Seed}, {"negativePrompt", m.NegativePrompt}, {"endFrameAssetId", m.EndFrame}, {"audio", m.Audio}} {
				if o.ok {
					yes = append(yes, o.field)
				}
			}
			takes = "only " + strings.Join(yes, ", ")
		}
		return BadInput(field, "%s does not take %s (it takes %s)", name, strings.TrimPrefix(field, "input."), takes)
	}
	req.Workflow, req.DurationSeconds, req.AspectRatio, req.Resolution = wf, p.DurationSeconds, p.AspectRatio, p.Resolution
	return checkLimits(name, m, req)
}

// checkLimits refuses a request that one of the model's narrower rules
// (a resolution only at some lengths, an end frame only for one workflow)
// rules out, naming the rule and the field to change.
func checkLimits(name string, m providers.Model, req providers.Request) error {
	for _, l := range m.Limits {
		if !l.Applies(req) {
			continue
		}
		switch {
		case l.Workflows != nil && !slices.Contains(l.Workflows, req.Workflow):
			return BadInput("input.workflowType", "%s: %s, not %s", name, l, strings.ToUpper(string(req.Workflow)))
		case l.Durations != nil && !slices.Contains(l.Durations, req.DurationSeconds):
			return BadInput("input.durationSeconds", "%s: %s, not %d seconds", name, l, req.DurationSeconds)
		case l.AspectRatios != nil && !slices.Contains(l.AspectRatios, req.AspectRatio):
			return BadInput("input.aspectRatio", "%s: %s, not %s", name, l, req.AspectRatio)
		case l.Resolutions != nil && !slices.Contains(l.Resolutions, req.Resolution):
			return BadInput("input.resolution", "%s: %s, not %s", name, l, req.Resolution)
		}
	}
	return nil
}

// defaultDuration is DefaultDurationSeconds, or the shortest length m
// makes when it does not make that one.
func defaultDuration(m providers.Model) int {
	switch {
	case m.MakesDuration(DefaultDurationSeconds):
		return DefaultDurationSeconds
	case len(m.Durations) > 0:
		return m.Durations[0]
	}
	return m.MinDurationSeconds
}

// fromModel returns v if the model makes it, or, for v empty, the first
// value it makes (the API's default when it makes that).
func fromModel(field, name, v string, makes []string) (string, error) {
	if len(makes) == 0 {
		return "", BadInput(field, "%s makes no value vidgate offers", name)
	}
	if v == "" {
		return makes[0], nil
	}
	if !slices.Contains(makes, v) {
		return "", BadInput(field, "%s makes %s, not %q", name, strings.Join(makes, ", "), v)
	}
	return v, nil
}

func modelIDs(ms []providers.Model) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return strings.Join(ids, ", ")
}

func joinWorkflows(wfs []providers.Workflow) string {
	out := make([]string, len(wfs))
	for i, wf := range wfs {
		out[i] = strings.ToUpper(string(wf))
	}
	return strings.Join(out, " and ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
