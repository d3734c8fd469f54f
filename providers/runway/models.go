package runway

import (
	"slices"

	"github.com/vidgate/vidgate/providers"
)

// Default models, one per workflow (Config.Models overrides them).
//
// Runway's own docs name gen4_turbo and gen3a_turbo as the classic video
// models, but neither makes a video from text alone, and gen3a_turbo was
// retired in July 2026. gen4.5 is the Runway-made model that serves
// POST /v1/text_to_video; gen4_turbo stays the image-to-video default
// because it is the cheaper, faster one of the two that offer it.
const (
	DefaultTextToVideoModel  = "gen4.5"
	DefaultImageToVideoModel = "gen4_turbo"
)

// ratios maps our aspect ratio and resolution to Runway's "ratio", which
// names the output's pixel size. A pair missing here has no Runway
// equivalent (21:9 at 1080p, say): Submit refuses it with CodeInvalidInput
// before calling.
//
//	aspect  720p        1080p
//	16:9    1280:720    1920:1080
//	9:16    720:1280    1080:1920
//	1:1     960:960     -
//	4:3     1104:832    -
//	3:4     832:1104    -
//	21:9    1584:672    -
var ratios = map[[2]string]string{
	{"16:9", "720p"}:  "1280:720",
	{"9:16", "720p"}:  "720:1280",
	{"1:1", "720p"}:   "960:960",
	{"4:3", "720p"}:   "1104:832",
	{"3:4", "720p"}:   "832:1104",
	{"21:9", "720p"}:  "1584:672",
	{"16:9", "1080p"}: "1920:1080",
	{"9:16", "1080p"}: "1080:1920",
}

// modelSpec is what one Runway model accepts, from the create parameters
// of Runway's API reference (SDK schemas of API version 2024-11-06).
type modelSpec struct {
	// text and image are the ratios the model offers on
	// POST /v1/text_to_video and POST /v1/image_to_video; nil means the
	// model is not offered there.
	text, image []string
	// durations are the lengths it makes, in seconds, ascending.
	durations []int
}

var (
	gen4Ratios = []string{"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
	wideRatios = []string{"1280:720", "720:1280"}
	veoRatios  = []string{"1280:720", "720:1280", "1920:1080", "1080:1920"}
)

// models are the models whose limits the driver checks before calling. A
// model not listed here is sent as asked for, with any ratio of the table
// above, and Runway judges (a 400 is CodeInvalidInput all the same).
var models = map[string]modelSpec{
	"gen4_turbo":  {image: gen4Ratios, durations: []int{5, 10}},
	"gen4.5":      {text: wideRatios, image: gen4Ratios, durations: []int{2, 3, 4, 5, 6, 7, 8, 9, 10}},
	"veo3.1":      {text: veoRatios, image: veoRatios, durations: []int{4, 6, 8}},
	"veo3.1_fast": {text: veoRatios, image: veoRatios, durations: []int{4, 6, 8}},
	"veo3":        {text: veoRatios, image: veoRatios, durations: []int{8}},
}

// ratioFor returns Runway's ratio for a request, or an error for which
// ErrorCode is CodeInvalidInput when model (if the driver knows it) does not
// make that size.
func ratioFor(model string, wf providers.Workflow, aspect, resolution string) (string, error) {
	r, ok := ratios[[2]string{aspect, resolution}]
	if !ok {
		return "", providers.Errorf(providers.CodeInvalidInput,
			"runway submit: no Runway video size for aspect ratio %q at %q", aspect, resolution)
	}
	spec, known := models[model]
	if !known {
		return r, nil
	}
	offered := spec.image
	if wf == providers.WorkflowTextToVideo {
		offered = spec.text
	}
	if offered == nil {
		return "", providers.Errorf(providers.CodeInvalidInput, "runway submit: model %s does not offer %s", model, wf)
	}
	if !slices.Contains(offered, r) {
		return "", providers.Errorf(providers.CodeInvalidInput,
			"runway submit: model %s does not make %s video at %s (Runway ratio %s)", model, aspect, resolution, r)
	}
	return r, nil
}

// durationFor returns the duration to ask model for: secs rounded up to the
// next length the model makes (a clip can be trimmed later, not lengthened),
// or an error for which ErrorCode is CodeInvalidInput when secs is longer
// than the model's longest. Models the driver does not know get secs.
func durationFor(model string, secs int) (int, error) {
	if secs <= 0 {
		return 0, providers.Errorf(providers.CodeInvalidInput, "runway submit: duration must be positive, got %d", secs)
	}
	spec, known := models[model]
	if !known {
		return secs, nil
	}
	for _, d := range spec.durations {
		if d >= secs {
			return d, nil
		}
	}
	return 0, providers.Errorf(providers.CodeInvalidInput,
		"runway submit: model %s makes videos of at most %d seconds, asked for %d", model, spec.durations[len(spec.durations)-1], secs)
}
