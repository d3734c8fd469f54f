package providers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Model is what one of a provider's models can do, as the API shows it to
// clients (the form of a "new video" page is built from it) and as jobs
// check a request against it before anything is billed.
//
// A nil list means "not known": the API's own values apply and the vendor
// judges. An option flag that is false means the request may not ask for
// that option: jobs refuse it rather than let the driver drop it.
type Model struct {
	// ID is the vendor's model id, as Request.Model takes it.
	ID string
	// Name is a display name.
	Name string
	// Workflows are the workflows the model offers.
	Workflows []Workflow
	// Durations are the lengths it makes, in whole seconds, ascending;
	// nil: any of MinDurationSeconds..MaxDurationSeconds when
	// MaxDurationSeconds > 0, else not known.
	Durations                              []int
	MinDurationSeconds, MaxDurationSeconds int
	// AspectRatios ("16:9" …) and Resolutions ("720p", "1080p", "4k" …)
	// it makes.
	AspectRatios []string
	Resolutions  []string
	// EndFrame: takes Request.EndFrameURL, the last keyframe.
	EndFrame bool
	// Audio: takes Request.Audio, a soundtrack turned on or off.
	Audio bool
	// NegativePrompt: takes Request.NegativePrompt.
	NegativePrompt bool
	// Seed: takes Request.Seed.
	Seed bool
	// Limits narrow the lists above for some requests (1080p at 16:9
	// only, an end frame at 1080p only …); a request outside one is
	// refused like a value outside the lists.
	Limits []Limit
}

// Limit narrows what a model makes for the requests it applies to: those
// of Workflow (when set), at Resolution (when set) and with an end frame
// (when EndFrame), all that are set. Such a request must also be within
// each list that is not nil.
type Limit struct {
	Workflow   Workflow
	Resolution string
	EndFrame   bool

	Workflows    []Workflow
	Durations    []int
	AspectRatios []string
	Resolutions  []string
}

// Applies reports whether l limits req.
func (l Limit) Applies(req Request) bool {
	switch {
	case l.Workflow == "" && l.Resolution == "" && !l.EndFrame:
		return false
	case l.Workflow != "" && req.Workflow != l.Workflow,
		l.Resolution != "" && req.Resolution != l.Resolution,
		l.EndFrame && req.EndFrameURL == "":
		return false
	}
	return true
}

// String says l for a person: "at 1080p: 16:9 or 9:16 only",
// "text_to_video at 720p: 16:9 or 9:16 only", "with an end frame:
// image_to_video, 1080p only".
func (l Limit) String() string {
	var when []string
	if l.Workflow != "" {
		when = append(when, string(l.Workflow))
	}
	if l.Resolution != "" {
		when = append(when, "at "+l.Resolution)
	}
	if l.EndFrame {
		when = append(when, "with an end frame")
	}
	var only []string
	for _, wf := range l.Workflows {
		only = append(only, string(wf))
	}
	if l.Durations != nil {
		only = append(only, Model{Durations: l.Durations}.DescribeDurations()+" seconds")
	}
	if l.AspectRatios != nil {
		only = append(only, JoinOr(l.AspectRatios))
	}
	if l.Resolutions != nil {
		only = append(only, JoinOr(l.Resolutions))
	}
	return strings.Join(when, " ") + ": " + strings.Join(only, ", ") + " only"
}

// MakesDuration reports whether m makes clips of secs seconds: in
// Durations, else in the range, else (nothing known) yes.
func (m Model) MakesDuration(secs int) bool {
	switch {
	case m.Durations != nil:
		return slices.Contains(m.Durations, secs)
	case m.MaxDurationSeconds > 0:
		return secs >= m.MinDurationSeconds && secs <= m.MaxDurationSeconds
	}
	return true
}

// DescribeDurations says for a person what lengths m makes: "2 to 10",
// "4, 6 or 8", "8"; "" when not known.
func (m Model) DescribeDurations() string {
	ds := m.Durations
	if ds == nil {
		if m.MaxDurationSeconds <= 0 {
			return ""
		}
		return fmt.Sprintf("%d to %d", m.MinDurationSeconds, m.MaxDurationSeconds)
	}
	if n := len(ds); n >= 3 && ds[n-1]-ds[0] == n-1 {
		return fmt.Sprintf("%d to %d", ds[0], ds[n-1])
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = strconv.Itoa(d)
	}
	return JoinOr(parts)
}

// JoinOr joins "4", "6", "8" as "4, 6 or 8".
func JoinOr(vals []string) string {
	if len(vals) < 2 {
		return strings.Join(vals, "")
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

// Catalog is the models a provider offers.
type Catalog struct {
	// Models are the models whose capabilities the driver knows.
	Models []Model
	// Defaults are the models a request that names none gets, per
	// workflow (the driver's configured defaults).
	Defaults map[Workflow]string
}

// Model returns the model of c with id, and whether it is listed.
func (c Catalog) Model(id string) (Model, bool) {
	i := slices.IndexFunc(c.Models, func(m Model) bool { return m.ID == id })
	if i < 0 {
		return Model{}, false
	}
	return c.Models[i], true
}

// Cataloger is an optional capability: a driver lists its models and what
// each can do. It describes the vendor, so it is found through wrappers
// (CatalogOf). A driver without it lists nothing: jobs refuse any model
// name and any option beyond the basic ones for its provider unless the
// operator allows unlisted models.
type Cataloger interface {
	Catalog() Catalog
}

// CatalogOf returns the catalog of d, looking through wrappers, and
// whether it has one.
func CatalogOf(d Driver) (Catalog, bool) {
	c, ok := findCapability[Cataloger](d)
	if !ok {
		return Catalog{}, false
	}
	return c.Catalog(), true
}

// Options returns the names of the options beyond the basic ones (seed,
// negative prompt, end frame, audio) that req asks for and m does not take,
// in that order; nil if it takes them all. Each is named as the GraphQL
// API names it.
func (m Model) Options(req Request) []string {
	var missing []string
	for _, o := range []struct {
		name          string
		asked, offers bool
	}{
		{"seed", req.Seed != nil, m.Seed},
		{"negativePrompt", req.NegativePrompt != "", m.NegativePrompt},
		{"endFrame", req.EndFrameURL != "", m.EndFrame},
		{"audio", req.Audio != nil, m.Audio},
	} {
		if o.asked && !o.offers {
			missing = append(missing, o.name)
		}
	}
	return missing
}

// Check returns an error for which ErrorCode is CodeInvalidInput, naming
// what the model makes, when req asks model (the model Submit sends, after
// defaults) for what c says it does not make or take: a workflow,
// duration, aspect ratio or resolution outside its lists (an empty value
// is not asked for), a request outside one of its Limits, or an option
// (see CheckOptions). For a model c does not list, only options are
// checked. Drivers call it in Submit, before anything is sent, so that a
// request is refused at once rather than billed, rounded or dropped. op
// begins the message ("runway submit").
func (c Catalog) Check(op, model string, req Request) error {
	m, listed := c.Model(model)
	if !listed {
		return c.CheckOptions(op, model, req)
	}
	return m.Check(op, req)
}

// Check is Catalog.Check for a listed model.
func (m Model) Check(op string, req Request) error {
	bad := func(format string, args ...any) error {
		return Errorf(CodeInvalidInput, "%s: model %.64q "+format, append([]any{op, m.ID}, args...)...)
	}
	if err := m.within(req, m.Workflows, m.Durations, m.AspectRatios, m.Resolutions, bad, ""); err != nil {
		return err
	}
	if m.Durations == nil && m.MaxDurationSeconds > 0 && req.DurationSeconds != 0 && !m.MakesDuration(req.DurationSeconds) {
		return bad("makes videos of %s seconds, not %d", m.DescribeDurations(), req.DurationSeconds)
	}
	if missing := m.Options(req); missing != nil {
		return bad("does not take %s", strings.Join(missing, ", "))
	}
	for _, l := range m.Limits {
		if !l.Applies(req) {
			continue
		}
		if err := m.within(req, l.Workflows, l.Durations, l.AspectRatios, l.Resolutions, bad, " ("+l.String()+")"); err != nil {
			return err
		}
	}
	return nil
}

// within returns bad's error when req is outside one of the lists that
// is not nil; why ends the message.
func (m Model) within(req Request, wfs []Workflow, durations []int, aspects, resolutions []string, bad func(string, ...any) error, why string) error {
	switch {
	case wfs != nil && !slices.Contains(wfs, req.Workflow):
		names := make([]string, len(wfs))
		for i, wf := range wfs {
			names[i] = string(wf)
		}
		return bad("offers %s, not %.32q%s", JoinOr(names), req.Workflow, why)
	case durations != nil && req.DurationSeconds != 0 && !slices.Contains(durations, req.DurationSeconds):
		return bad("makes videos of %s seconds, not %d%s", Model{Durations: durations}.DescribeDurations(), req.DurationSeconds, why)
	case aspects != nil && req.AspectRatio != "" && !slices.Contains(aspects, req.AspectRatio):
		return bad("makes aspect ratio %s, not %.16q%s", JoinOr(aspects), req.AspectRatio, why)
	case resolutions != nil && req.Resolution != "" && !slices.Contains(resolutions, req.Resolution):
		return bad("makes %s video, not %.16q%s", JoinOr(resolutions), req.Resolution, why)
	}
	return nil
}

// CheckOptions returns an error for which ErrorCode is CodeInvalidInput
// when req asks model (the model Submit sends, after defaults) for an
// option it does not take according to c — any option, for a model c does
// not list, since what it takes is unknown. Drivers call it in Submit so
// that an option is refused, never silently dropped. op begins the
// message ("runway submit").
func (c Catalog) CheckOptions(op, model string, req Request) error {
	m, listed := c.Model(model)
	if !listed {
		m = Model{ID: model}
	}
	if missing := m.Options(req); missing != nil {
		return Errorf(CodeInvalidInput, "%s: model %.64q does not take %s", op, model, strings.Join(missing, ", "))
	}
	return nil
}

// ModelsFor returns the model each workflow uses when a request names
// none: configured's non-empty entries, over textToVideo and imageToVideo.
func ModelsFor(textToVideo, imageToVideo string, configured map[Workflow]string) map[Workflow]string {
	models := map[Workflow]string{WorkflowTextToVideo: textToVideo, WorkflowImageToVideo: imageToVideo}
	for wf, m := range configured {
		if m != "" {
			models[wf] = m
		}
	}
	return models
}
