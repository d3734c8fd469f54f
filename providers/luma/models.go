package luma

import (
	"maps"
	"slices"

	"github.com/vidgate/vidgate/providers"
)

// Catalog lists the models whose lengths the driver knows (durations),
// with Luma's aspect ratios and resolutions, and the driver's defaults.
// They take an end frame (keyframes.frame1); no seed, negative prompt or
// audio switch.
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: maps.Clone(d.models)}
	for _, id := range slices.Sorted(maps.Keys(durations)) {
		c.Models = append(c.Models, providers.Model{
			ID: id, Name: id, Workflows: []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo},
			Durations: durations[id], AspectRatios: aspectRatios, Resolutions: resolutions, EndFrame: true,
		})
	}
	return c
}

var _ providers.Cataloger = (*Driver)(nil)

// Luma's documented values.
var (
	aspectRatios = []string{"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
	resolutions  = []string{"540p", "720p", "1080p", "4k"}
	// durations are the lengths, in seconds, of the models whose limits the
	// driver knows; other models get the asked length as "<n>s".
	durations = map[string][]int{"ray-2": {5, 9}, "ray-flash-2": {5, 9}}
)

// sizeFor checks req's aspect ratio and resolution against what Luma
// offers (any model) and returns its length (durationFor).
func sizeFor(model string, req providers.Request) (int, error) {
	if !slices.Contains(aspectRatios, req.AspectRatio) {
		return 0, providers.Errorf(providers.CodeInvalidInput, "luma submit: Luma offers no aspect ratio %q", providers.Clip(req.AspectRatio, 16))
	}
	if !slices.Contains(resolutions, req.Resolution) {
		return 0, providers.Errorf(providers.CodeInvalidInput, "luma submit: Luma offers no resolution %q", providers.Clip(req.Resolution, 16))
	}
	return durationFor(model, req.DurationSeconds)
}

// durationFor returns secs if model makes clips that long (or is a model
// the driver does not know), else an error for which ErrorCode is
// CodeInvalidInput: never a rounded length.
func durationFor(model string, secs int) (int, error) {
	if secs <= 0 {
		return 0, providers.Errorf(providers.CodeInvalidInput, "luma submit: duration must be positive, got %d", secs)
	}
	ds, known := durations[model]
	if !known || slices.Contains(ds, secs) {
		return secs, nil // an unknown model: Luma judges
	}
	// Never rounded: a longer clip is billed as one.
	return 0, providers.Errorf(providers.CodeInvalidInput,
		"luma submit: model %s makes videos of %s seconds, not %d", model, providers.Model{Durations: ds}.DescribeDurations(), secs)
}
