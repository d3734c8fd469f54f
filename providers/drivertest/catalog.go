package drivertest

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

// CatalogHarness is an optional Harness capability that turns on the
// catalog matrix (RunConformanceTests' "Catalog" test): every model the
// driver's catalog lists, in each workflow it offers, is submitted at each
// duration, aspect ratio, resolution and allowed pair of the two it
// claims, and with an end frame where it claims one, and the fake vendor
// must accept each — fakes validate as the vendor does, so a refusal means
// the catalog or the driver is wrong. Then a value just outside each claim
// (a duration, aspect ratio or resolution it does not list, a request
// outside one of its Limits, an option or workflow it does not take) must
// be refused by the driver with CodeInvalidInput naming what the model
// makes, before any request reaches the vendor.
type CatalogHarness interface {
	// Requests returns how many HTTP requests the fake vendor of t has
	// received so far.
	Requests(t *testing.T) int
}

// size is a request's duration, aspect ratio and resolution.
type size struct {
	secs        int
	aspect, res string
}

// candidate values tried outside what a model claims, in order.
var (
	candidateAspects     = []string{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21", "2:1"}
	candidateResolutions = []string{"720p", "1080p", "480p", "540p", "4k", "8k"}
)

// durationsOf returns the lengths m claims, or [fallback] if it claims
// none.
func durationsOf(m providers.Model, fallback int) []int {
	switch {
	case m.Durations != nil:
		return m.Durations
	case m.MaxDurationSeconds > 0:
		var ds []int
		for s := m.MinDurationSeconds; s <= m.MaxDurationSeconds; s++ {
			ds = append(ds, s)
		}
		return ds
	}
	return []int{fallback}
}

// orElse is list, or [fallback] if it is nil.
func orElse(list []string, fallback string) []string {
	if list == nil {
		return []string{fallback}
	}
	return list
}

// sizesOf returns every size m accepts for base (its workflow and
// options), the closest to base's own first: fewest values changed, then
// the nearest duration.
func sizesOf(m providers.Model, base providers.Request) []size {
	var out []size
	for _, secs := range durationsOf(m, base.DurationSeconds) {
		for _, aspect := range orElse(m.AspectRatios, base.AspectRatio) {
			for _, res := range orElse(m.Resolutions, base.Resolution) {
				r := base
				r.DurationSeconds, r.AspectRatio, r.Resolution = secs, aspect, res
				if m.Check("drivertest", r) == nil {
					out = append(out, size{secs, aspect, res})
				}
			}
		}
	}
	changed := func(s size) int {
		n := 0
		for _, diff := range []bool{s.secs != base.DurationSeconds, s.aspect != base.AspectRatio, s.res != base.Resolution} {
			if diff {
				n++
			}
		}
		return n
	}
	slices.SortStableFunc(out, func(a, b size) int {
		return cmp.Or(cmp.Compare(changed(a), changed(b)), cmp.Compare(abs(a.secs-base.DurationSeconds), abs(b.secs-base.DurationSeconds)))
	})
	return out
}

func abs(n int) int { return max(n, -n) }

// claimed returns the sizes that cover each duration, aspect ratio,
// resolution and (aspect ratio, resolution) pair of all, once each.
func claimed(all []size) []size {
	var out []size
	add := func(match func(size) bool) {
		if i := slices.IndexFunc(all, match); i >= 0 && !slices.Contains(out, all[i]) {
			out = append(out, all[i])
		}
	}
	for _, s := range all {
		add(func(o size) bool { return o.secs == s.secs })
		add(func(o size) bool { return o.aspect == s.aspect })
		add(func(o size) bool { return o.res == s.res })
		add(func(o size) bool { return o.aspect == s.aspect && o.res == s.res })
	}
	return out
}

// refusal is a request outside what a model claims, and what the
// driver's error must say.
type refusal struct {
	name string
	req  providers.Request
	says string // "" when any message will do
}

// outside returns the requests just outside what m claims for base's
// workflow, each otherwise within its claims.
func outside(m providers.Model, base providers.Request, end string) []refusal {
	sizes := sizesOf(m, base)
	if len(sizes) == 0 {
		return nil
	}
	ok := base
	ok.DurationSeconds, ok.AspectRatio, ok.Resolution = sizes[0].secs, sizes[0].aspect, sizes[0].res
	var out []refusal
	with := func(name, says string, change func(*providers.Request)) {
		r := ok
		change(&r)
		out = append(out, refusal{name, r, says})
	}
	if m.Durations != nil || m.MaxDurationSeconds > 0 {
		ds := durationsOf(m, 0)
		secs := ds[len(ds)-1] + 1 // past the longest, unless there is a gap
		for s := ds[0] + 1; s < ds[len(ds)-1]; s++ {
			if !slices.Contains(ds, s) {
				secs = s
				break
			}
		}
		with("duration", m.DescribeDurations(), func(r *providers.Request) { r.DurationSeconds = secs })
	}
	if m.AspectRatios != nil {
		if i := slices.IndexFunc(candidateAspects, func(a string) bool { return !slices.Contains(m.AspectRatios, a) }); i >= 0 {
			with("aspect ratio "+candidateAspects[i], providers.JoinOr(m.AspectRatios), func(r *providers.Request) { r.AspectRatio = candidateAspects[i] })
		}
	}
	if m.Resolutions != nil {
		if i := slices.IndexFunc(candidateResolutions, func(s string) bool { return !slices.Contains(m.Resolutions, s) }); i >= 0 {
			with("resolution "+candidateResolutions[i], providers.JoinOr(m.Resolutions), func(r *providers.Request) { r.Resolution = candidateResolutions[i] })
		}
	}
	for _, l := range m.Limits {
		if r, ok := breaking(m, base, l, end); ok {
			out = append(out, refusal{"limit " + l.String(), r, l.String()})
		}
	}
	seed, yes := int64(42), true
	for _, o := range []struct {
		name   string
		offers bool
		set    func(*providers.Request)
	}{
		{"seed", m.Seed, func(r *providers.Request) { r.Seed = &seed }},
		{"negativePrompt", m.NegativePrompt, func(r *providers.Request) { r.NegativePrompt = "blurry, low quality" }},
		{"endFrame", m.EndFrame, func(r *providers.Request) { r.EndFrameURL = end }},
		{"audio", m.Audio, func(r *providers.Request) { r.Audio = &yes }},
	} {
		if !o.offers {
			with("option "+o.name, o.name, o.set)
		}
	}
	return out
}

// breaking returns a request l applies to and refuses, within m's lists
// otherwise, and whether there is one.
func breaking(m providers.Model, base providers.Request, l providers.Limit, end string) (providers.Request, bool) {
	r := base
	if l.EndFrame {
		r.EndFrameURL = end
	}
	if l.Workflow != "" && l.Workflow != base.Workflow {
		return r, false
	}
	for _, secs := range durationsOf(m, base.DurationSeconds) {
		for _, aspect := range orElse(m.AspectRatios, base.AspectRatio) {
			for _, res := range orElse(m.Resolutions, base.Resolution) {
				r.DurationSeconds, r.AspectRatio, r.Resolution = secs, aspect, res
				if err := m.Check("drivertest", r); l.Applies(r) && err != nil && strings.Contains(err.Error(), l.String()) {
					return r, true
				}
			}
		}
	}
	return r, false
}

// testCatalog is the catalog matrix; see CatalogHarness.
func testCatalog(t *testing.T, h Harness) {
	ch, ok := h.(CatalogHarness)
	if !ok {
		t.Skip("the harness does not count the fake vendor's requests (no CatalogHarness)")
	}
	c, ok := providers.CatalogOf(h.Driver(t))
	if !ok {
		t.Skip("the driver has no catalog")
	}
	for _, m := range c.Models {
		t.Run(m.ID, func(t *testing.T) {
			t.Parallel()
			d := h.Driver(t)
			ctx := ctxFor(t)
			image := sourceImageFor(t, h)
			for _, wf := range []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo} {
				base := providers.Request{Workflow: wf, Model: m.ID, DurationSeconds: 5, AspectRatio: "16:9", Resolution: "720p",
					Prompt: "A paper boat drifts down a rain-filled gutter, close tracking shot."}
				if wf == providers.WorkflowImageToVideo {
					base.SourceImageURL = image
				}
				if !slices.Contains(m.Workflows, wf) {
					checkRefused(t, ctx, ch, d, refusal{"workflow " + string(wf), base, ""})
					continue
				}
				for _, s := range claimed(sizesOf(m, base)) {
					r := base
					r.DurationSeconds, r.AspectRatio, r.Resolution = s.secs, s.aspect, s.res
					checkAccepted(t, ctx, d, r)
				}
				if m.EndFrame {
					r := base
					r.EndFrameURL = image + "&frame=last"
					if sizes := sizesOf(m, r); len(sizes) > 0 {
						r.DurationSeconds, r.AspectRatio, r.Resolution = sizes[0].secs, sizes[0].aspect, sizes[0].res
						checkAccepted(t, ctx, d, r)
					} else if wf == providers.WorkflowImageToVideo {
						t.Errorf("model %s claims an end frame but no %s request with one is within its claims", m.ID, wf)
					}
				}
				for _, bad := range outside(m, base, image+"&frame=last") {
					checkRefused(t, ctx, ch, d, bad)
				}
			}
		})
	}
}

// describe names a request's shape in a failure.
func describe(r providers.Request) string {
	var b strings.Builder
	b.WriteString(string(r.Workflow))
	for _, s := range []string{r.AspectRatio, r.Resolution} {
		b.WriteString(" " + s)
	}
	b.WriteString(" " + providers.Model{Durations: []int{r.DurationSeconds}}.DescribeDurations() + "s")
	if r.EndFrameURL != "" {
		b.WriteString(" with an end frame")
	}
	if r.Seed != nil {
		b.WriteString(" with a seed")
	}
	if r.NegativePrompt != "" {
		b.WriteString(" with a negative prompt")
	}
	if r.Audio != nil {
		b.WriteString(" with audio")
	}
	return b.String()
}

func checkAccepted(t *testing.T, ctx context.Context, d providers.Driver, r providers.Request) {
	t.Helper()
	id, err := d.Submit(ctx, r)
	if err != nil || id == "" {
		t.Errorf("Submit(%s, %s) = %q, %v; want it accepted: the catalog claims it", r.Model, describe(r), id, err)
	}
}

func checkRefused(t *testing.T, ctx context.Context, ch CatalogHarness, d providers.Driver, bad refusal) {
	t.Helper()
	before := ch.Requests(t)
	id, err := d.Submit(ctx, bad.req)
	if got := providers.ErrorCode(err); got != providers.CodeInvalidInput {
		t.Errorf("Submit(%s, %s: %s) = %q, %v; want code %s", bad.req.Model, bad.name, describe(bad.req), id, err, providers.CodeInvalidInput)
	} else if !strings.Contains(err.Error(), bad.says) {
		t.Errorf("Submit(%s, %s) error = %q, want it to name what the model takes: %q", bad.req.Model, bad.name, err, bad.says)
	}
	if after := ch.Requests(t); after != before {
		t.Errorf("Submit(%s, %s) sent %d requests to the vendor, want none: the driver refuses it itself", bad.req.Model, bad.name, after-before)
	}
}

// sourceImageFor returns a source image URL for h's vendor.
func sourceImageFor(t *testing.T, h Harness) string {
	if sh, ok := h.(SourceImageHarness); ok {
		return sh.SourceImageURL(t)
	}
	return sourceImage(t) + "/files/sources/3f9c2a.png?expires=1795000000&sig=q2Jx0Vb4"
}
