package fal

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// inputSpec is how one model family takes the fields of a request.
type inputSpec struct {
	// duration formats DurationSeconds: fal's video models take an enum
	// string.
	duration   func(seconds int) string
	resolution bool // takes "resolution"
	// aspectWithImage: takes "aspect_ratio" for image_to_video too (else
	// only for text_to_video).
	aspectWithImage bool
}

var (
	seconds         = strconv.Itoa
	secondsSuffixed = func(n int) string { return strconv.Itoa(n) + "s" }
)

// defaultSpec is what most of fal's video models take (seedance, wan,
// hailuo, pixverse …).
var defaultSpec = inputSpec{duration: seconds, resolution: true, aspectWithImage: true}

// familySpecs are the families that differ from defaultSpec, by model id
// prefix.
var familySpecs = []struct {
	prefix string
	spec   inputSpec
}{
	{"fal-ai/kling-video/", inputSpec{duration: seconds}},
	{"fal-ai/veo3", inputSpec{duration: secondsSuffixed, resolution: true, aspectWithImage: true}},
	{"fal-ai/veo2", inputSpec{duration: secondsSuffixed, aspectWithImage: true}},
}

func specFor(model string) inputSpec {
	for _, f := range familySpecs {
		if strings.HasPrefix(model, f.prefix) {
			return f.spec
		}
	}
	return defaultSpec
}

// buildInput maps req onto the model's input; see the package doc.
func buildInput(model string, req providers.Request) map[string]any {
	spec := specFor(model)
	in := map[string]any{"prompt": req.Prompt}
	withImage := req.Workflow == providers.WorkflowImageToVideo
	if withImage {
		in["image_url"] = req.SourceImageURL
	}
	if req.DurationSeconds > 0 {
		in["duration"] = spec.duration(req.DurationSeconds)
	}
	if req.AspectRatio != "" && (!withImage || spec.aspectWithImage) {
		in["aspect_ratio"] = req.AspectRatio
	}
	if req.Resolution != "" && spec.resolution {
		in["resolution"] = req.Resolution
	}
	return in
}

// Catalog lists the driver's default models, each for the workflows it is
// the default of. fal's models differ per family in ways no table here
// records (durations, sizes), so those are not listed, and no model is
// known to take an option: any is refused rather than dropped.
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: maps.Clone(d.models)}
	for _, wf := range []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo} {
		id, ok := d.models[wf]
		if !ok {
			continue
		}
		if i := slices.IndexFunc(c.Models, func(m providers.Model) bool { return m.ID == id }); i >= 0 {
			c.Models[i].Workflows = append(c.Models[i].Workflows, wf)
			continue
		}
		c.Models = append(c.Models, providers.Model{ID: id, Name: id, Workflows: []providers.Workflow{wf}})
	}
	return c
}

var _ providers.Cataloger = (*Driver)(nil)
