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
