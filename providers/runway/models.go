package runway

import (
	"maps"
	"slices"
	"strings"

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
// of runwayml/sdk-node (generated from Runway's OpenAPI spec, API version
// 2024-11-06): src/resources/image-to-video.ts and text-to-video.ts.
type modelSpec struct {
	// text and image are the ratios the model offers on
	// POST /v1/text_to_video and POST /v1/image_to_video; nil means the
	// model is not offered there.
	text, image []string
	// durations are the lengths it makes, in whole seconds, ascending.
	// Runway bills by the second, so a length the model cannot make is
	// refused, never rounded up into a longer clip.
	durations []int
	// seed and audio: the model takes "seed" (an integer, 0 to
	// 4294967295) and "audio" (a boolean; audio affects the price).
	seed, audio bool
	// endFrame: promptImage takes a second item at position "last" (the
	// end frame), after the first frame: image_to_video only.
	endFrame bool
}

var (
	gen4Ratios  = []string{"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
	wideRatios  = []string{"1280:720", "720:1280"}
	veoRatios   = []string{"1280:720", "720:1280", "1920:1080", "1080:1920"}
	gen3aRatios = []string{"1280:768", "768:1280"}
)

// models are the models whose limits the driver checks before calling. A
// model not listed here is sent as asked for, with any ratio of the table
// above, and Runway judges (a 400 is CodeInvalidInput all the same).
//
//	model        workflows    durations (s)  source (sdk-node)
//	gen4_turbo   image        2–10           image-to-video.ts Gen4Turbo; "Additional i2v durations" (0df86ce, 2025-10)
//	gen4.5       text, image  2–10           Gen4_5 ("an integer from 2 to 10")
//	veo3.1       text, image  4, 6, 8        Veo3_1 (duration?: 4 | 6 | 8)
//	veo3.1_fast  text, image  4, 6, 8        Veo3_1Fast
//	veo3         text, image  8              Veo3 (duration: 8)
//	gen3a_turbo  image        5, 10          Gen3aTurbo (duration?: 5 | 10), removed from the SDK in 72f96f2 (2026-06)
//
// Options, from the same types: gen4_turbo, gen4.5 and gen3a_turbo take
// "seed"; veo3.1 and veo3.1_fast take "audio"; veo3 takes neither.
// promptImage's items take position "first" on every model and "last" (the
// end frame) on veo3.1, veo3.1_fast and gen3a_turbo (PromptImage's
// position enum per model in image-to-video.ts; a last frame needs a first
// one).
//
// gen3a_turbo's only ratios are 1280:768 and 768:1280, sizes none of our
// aspect ratios maps to: it is listed so that a request for it is refused
// with what it makes rather than sent. Models take promptImage as a URL or
// as [{uri, position}]; the driver sends the URL (the first frame).
var models = map[string]modelSpec{
	"gen4_turbo":  {image: gen4Ratios, durations: secondsRange(2, 10), seed: true},
	"gen4.5":      {text: wideRatios, image: gen4Ratios, durations: secondsRange(2, 10), seed: true},
	"veo3.1":      {text: veoRatios, image: veoRatios, durations: []int{4, 6, 8}, audio: true, endFrame: true},
	"veo3.1_fast": {text: veoRatios, image: veoRatios, durations: []int{4, 6, 8}, audio: true, endFrame: true},
	"veo3":        {text: veoRatios, image: veoRatios, durations: []int{8}},
	"gen3a_turbo": {image: gen3aRatios, durations: []int{5, 10}, seed: true, endFrame: true},
}

// secondsRange is lo, lo+1, …, hi.
func secondsRange(lo, hi int) []int {
	ds := make([]int, 0, hi-lo+1)
	for s := lo; s <= hi; s++ {
		ds = append(ds, s)
	}
	return ds
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
	offered := spec.ratiosFor(wf)
	if offered == nil {
		return "", providers.Errorf(providers.CodeInvalidInput, "runway submit: model %s does not offer %s", model, wf)
	}
	if !slices.Contains(offered, r) {
		return "", providers.Errorf(providers.CodeInvalidInput,
			"runway submit: model %s does not make %s video at %s (Runway ratio %s; it makes %s)",
			model, aspect, resolution, r, strings.Join(offered, ", "))
	}
	return r, nil
}

// durationFor returns the duration to ask model for: secs itself, if the
// model makes clips of that length. Otherwise it returns an error for which
// ErrorCode is CodeInvalidInput and whose message names the lengths the
// model makes: rounding up would bill a longer clip than asked for, and
// rounding down would deliver a shorter one unannounced. Models the driver
// does not know get secs, and Runway judges.
func durationFor(model string, secs int) (int, error) {
	if secs <= 0 {
		return 0, providers.Errorf(providers.CodeInvalidInput, "runway submit: duration must be positive, got %d", secs)
	}
	spec, known := models[model]
	if !known || slices.Contains(spec.durations, secs) {
		return secs, nil
	}
	return 0, providers.Errorf(providers.CodeInvalidInput,
		"runway submit: model %s makes videos of %s seconds, not %d", model, describeSeconds(spec.durations), secs)
}

// describeSeconds writes ascending lengths for a person: "2 to 10" for a run
// of three or more, else "4, 6 or 8", "5 or 10", "8".
func describeSeconds(ds []int) string {
	return providers.Model{Durations: ds}.DescribeDurations()
}

// Catalog lists the models of the table above that make at least one of
// our sizes, with the aspect ratios and resolutions their Runway ratios
// map to, a Limit per resolution not made at every one of those aspect
// ratios (and per workflow's ratios, where they differ: a size made for
// one workflow only is limited to it), and the driver's default models.
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: maps.Clone(d.models)}
	for _, id := range slices.Sorted(maps.Keys(models)) {
		if m, ok := models[id].model(id); ok {
			c.Models = append(c.Models, m)
		}
	}
	return c
}

// model is spec as a catalog entry for model id; false if it makes none of
// our sizes (gen3a_turbo).
func (spec modelSpec) model(id string) (providers.Model, bool) {
	m := providers.Model{ID: id, Name: id, Durations: spec.durations, Seed: spec.seed, Audio: spec.audio, EndFrame: spec.endFrame}
	if spec.text != nil {
		m.Workflows = append(m.Workflows, providers.WorkflowTextToVideo)
	}
	if spec.image != nil {
		m.Workflows = append(m.Workflows, providers.WorkflowImageToVideo)
	}
	// made[wf][res] are the aspect ratios wf makes at res.
	made := map[providers.Workflow]map[string][]string{}
	for _, wf := range m.Workflows {
		made[wf] = map[string][]string{}
		for _, res := range []string{"720p", "1080p"} {
			for _, aspect := range aspectOrder {
				if r, ok := ratios[[2]string{aspect, res}]; ok && slices.Contains(spec.ratiosFor(wf), r) {
					made[wf][res] = append(made[wf][res], aspect)
				}
			}
		}
	}
	for _, aspect := range aspectOrder {
		for _, res := range []string{"720p", "1080p"} {
			if !slices.ContainsFunc(m.Workflows, func(wf providers.Workflow) bool { return slices.Contains(made[wf][res], aspect) }) {
				continue
			}
			if !slices.Contains(m.AspectRatios, aspect) {
				m.AspectRatios = append(m.AspectRatios, aspect)
			}
			if !slices.Contains(m.Resolutions, res) {
				m.Resolutions = append(m.Resolutions, res)
			}
		}
	}
	if m.AspectRatios == nil {
		return m, false
	}
	slices.SortFunc(m.Resolutions, func(a, b string) int { return len(a) - len(b) })
	// A Limit for each size not made by every workflow at every aspect
	// ratio: per resolution when the workflows agree, else per workflow.
	for _, res := range m.Resolutions {
		agree := true
		for _, wf := range m.Workflows[1:] {
			agree = agree && slices.Equal(made[wf][res], made[m.Workflows[0]][res])
		}
		for _, wf := range m.Workflows {
			l := providers.Limit{Resolution: res, AspectRatios: made[wf][res]}
			if !agree {
				l.Workflow = wf
			}
			if len(l.AspectRatios) == 0 {
				l.AspectRatios, l.Resolutions = nil, slices.DeleteFunc(slices.Clone(m.Resolutions), func(r string) bool { return r == res })
			}
			if len(made[wf][res]) < len(m.AspectRatios) {
				m.Limits = append(m.Limits, l)
			}
			if agree {
				break
			}
		}
	}
	if spec.endFrame {
		m.Limits = append(m.Limits, providers.Limit{EndFrame: true, Workflows: []providers.Workflow{providers.WorkflowImageToVideo}})
	}
	return m, true
}

// aspectOrder is the order aspect ratios are listed in.
var aspectOrder = []string{"16:9", "9:16", "1:1", "4:3", "3:4", "21:9"}

// ratiosFor returns the ratios spec offers for wf.
func (spec modelSpec) ratiosFor(wf providers.Workflow) []string {
	if wf == providers.WorkflowTextToVideo {
		return spec.text
	}
	return spec.image
}
