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

// knownModels are the models whose input the driver knows, from their
// pages on fal.ai (the API tab's input schema): Seedance 1.0 Pro's text-
// and image-to-video endpoints take duration "2" to "12", aspect_ratio
// 21:9, 16:9, 4:3, 1:1, 3:4 or 9:16, and resolution 480p, 720p or 1080p.
// Options they take beyond those (seed, camera_fixed) are not sent, so the
// catalog says they take none.
var knownModels = []providers.Model{
	seedance("fal-ai/bytedance/seedance/v1/pro/text-to-video", providers.WorkflowTextToVideo),
	seedance("fal-ai/bytedance/seedance/v1/pro/image-to-video", providers.WorkflowImageToVideo),
}

func seedance(id string, wf providers.Workflow) providers.Model {
	return providers.Model{
		ID: id, Name: id, Workflows: []providers.Workflow{wf}, MinDurationSeconds: 2, MaxDurationSeconds: 12,
		AspectRatios: []string{"21:9", "16:9", "4:3", "1:1", "3:4", "9:16"}, Resolutions: []string{"480p", "720p", "1080p"},
	}
}

// Catalog lists knownModels, and the driver's default models it does not
// know, each for the workflows it is the default of, with nothing known of
// what they make, and no option: any is refused rather than dropped.
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: maps.Clone(d.models), Models: slices.Clone(knownModels)}
	for _, wf := range []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo} {
		id, ok := d.models[wf]
		if !ok {
			continue
		}
		i := slices.IndexFunc(c.Models, func(m providers.Model) bool { return m.ID == id })
		switch {
		case i < 0:
			c.Models = append(c.Models, providers.Model{ID: id, Name: id, Workflows: []providers.Workflow{wf}})
		case !slices.Contains(c.Models[i].Workflows, wf):
			c.Models[i].Workflows = append(slices.Clone(c.Models[i].Workflows), wf)
		}
	}
	return c
}

var _ providers.Cataloger = (*Driver)(nil)
