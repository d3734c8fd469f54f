package replicate

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// modelRef is a parsed model id: owner/name for an official model (created
// through /models/{owner}/{name}/predictions), with version set for a
// pinned version (created through /predictions).
type modelRef struct {
	owner, name, version string
}

var (
	modelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)
	versionRE   = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// parseModel parses "owner/name", "owner/name:<version>" or a bare version
// id (64 lowercase hex digits).
func parseModel(id string) (modelRef, error) {
	name, version, pinned := strings.Cut(id, ":")
	if !pinned && versionRE.MatchString(id) {
		return modelRef{version: id}, nil
	}
	if !modelNameRE.MatchString(name) || strings.Contains(name, "..") {
		return modelRef{}, fmt.Errorf("model id %q is not owner/name[:version]", id)
	}
	if pinned && !versionRE.MatchString(version) {
		return modelRef{}, fmt.Errorf("model id %q: version is not 64 hex digits", id)
	}
	owner, model, _ := strings.Cut(name, "/")
	return modelRef{owner: owner, name: model, version: version}, nil
}

// modelSpec is what vidgate knows of one model's input schema: how it
// names the fields of a request, and which values it takes. Submit checks a
// request against it before sending anything, so that a value the model
// would refuse (a 422 after a round trip) or, worse, silently ignore (a
// 1080p request that comes back at 720p) is refused at once, with
// CodeInvalidInput naming what the model takes.
type modelSpec struct {
	imageField string
	// imageRequired: the model takes image_to_video only.
	imageRequired bool
	// durations are the durations it makes, in seconds, when it takes a
	// set of values; else minDuration..maxDuration when maxDuration > 0;
	// else any. A request is never rounded to a longer (billed) clip.
	durations                []int
	minDuration, maxDuration int
	// noDurationField: the model has no duration input; its clips are
	// durations[0] long.
	noDurationField bool
	// aspectRatios are the values "aspect_ratio" takes; nil: not checked.
	// aspect ratios are sent for text_to_video only unless
	// aspectWithImage (with an image the frame follows the image).
	aspectRatios    []string
	noAspectField   bool
	aspectWithImage bool
	// resolutions maps each resolution the model can make to the input
	// fields that ask for it; nil: not checked, and sent as "resolution"
	// only with passResolution.
	resolutions    map[string]map[string]any
	passResolution bool
	// seed and negativePrompt: the model takes "seed" and
	// "negative_prompt". No model here is known to take an audio switch.
	seed, negativePrompt bool
	// endFrameField is the input that takes the last frame
	// (Request.EndFrameURL); "": the model takes none.
	endFrameField string
	// limits narrow the values above for some requests (see
	// providers.Limit).
	limits []providers.Limit
}

// endFrameWithImage: the end frame is for image_to_video only (a last
// frame "only works if an image start frame is given").
var endFrameWithImage = providers.Limit{EndFrame: true, Workflows: []providers.Workflow{providers.WorkflowImageToVideo}}

// Model schemas, from each model's API page on replicate.com (the version
// named; enum values the page does not list come from PROVIDERS.md, as
// noted).
var (
	// bytedance/seedance-1-pro (version a5fd5508) and seedance-1-lite
	// (version f22bbc7d): duration integer 2..12; resolution and
	// aspect_ratio enums, aspect_ratio ignored with an image; seed;
	// last_frame_image, which needs image.
	seedanceSpec = modelSpec{
		imageField: "image", minDuration: 2, maxDuration: 12, aspectWithImage: true,
		aspectRatios:  []string{"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"},
		resolutions:   sameField("resolution", "480p", "720p", "1080p"),
		seed:          true,
		endFrameField: "last_frame_image", limits: []providers.Limit{endFrameWithImage},
	}
	// kwaivgi/kling-v2.1 (version daad218f): start_image required, no
	// aspect_ratio (the frame follows the image), duration 5 or 10,
	// "mode": standard is 720p, pro is 1080p; negative_prompt; end_image,
	// "pro mode is required when this parameter is set" (so 1080p only).
	klingV21Spec = modelSpec{
		imageField: "start_image", imageRequired: true, durations: []int{5, 10}, noAspectField: true,
		resolutions:    map[string]map[string]any{"720p": {"mode": "standard"}, "1080p": {"mode": "pro"}},
		negativePrompt: true,
		endFrameField:  "end_image", limits: []providers.Limit{{EndFrame: true, Resolutions: []string{"1080p"}}},
	}
	// Other kwaivgi/kling-* models: duration 5 or 10 (PROVIDERS.md);
	// start_image, and aspect_ratio without an image. Their resolution is
	// the model's own (v1.6-standard 720p, pro and master 1080p …) and no
	// input chooses it: not checked here (unconfirmed per model).
	klingSpec = modelSpec{imageField: "start_image", durations: []int{5, 10}}
	// google/veo-3 and veo-3-fast (versions 653d8e12, 5ed7d849): prompt,
	// image, negative_prompt, resolution (720p default), aspect_ratio,
	// seed; no duration input. The 1080p value and the 16:9 / 9:16 ratios
	// and 8 s clips are from PROVIDERS.md and Veo's own API (unconfirmed
	// on Replicate's page, which lists no enum values).
	veo3Spec = modelSpec{
		imageField: "image", durations: []int{8}, noDurationField: true, aspectWithImage: true,
		aspectRatios: []string{"16:9", "9:16"},
		resolutions:  sameField("resolution", "720p", "1080p"),
		seed:         true, negativePrompt: true,
	}
	// defaultSpec is for models not in modelSpecs: the names most
	// Replicate video models share, values passed through unchecked.
	defaultSpec = modelSpec{imageField: "image", aspectWithImage: true, passResolution: true}
)

// sameField returns resolutions asked for by setting field to the value.
func sameField(field string, values ...string) map[string]map[string]any {
	m := make(map[string]map[string]any, len(values))
	for _, v := range values {
		m[v] = map[string]any{field: v}
	}
	return m
}

// modelSpecs are the models vidgate knows, by "owner/name".
var modelSpecs = map[string]modelSpec{
	"bytedance/seedance-1-pro":  seedanceSpec,
	"bytedance/seedance-1-lite": seedanceSpec,
	"kwaivgi/kling-v2.1":        klingV21Spec,
	"google/veo-3":              veo3Spec,
	"google/veo-3-fast":         veo3Spec,
}

// familySpecs are the model families whose members share a schema, by
// "owner/name" prefix, for models not in modelSpecs.
var familySpecs = []struct {
	prefix string
	spec   modelSpec
}{
	{"kwaivgi/kling", klingSpec},
}

// specFor returns the spec of ref and its name for messages. A pinned
// version of a known model takes that model's spec; a bare version id
// takes defaultSpec.
func specFor(ref modelRef) (modelSpec, string) {
	name := ref.owner + "/" + ref.name
	if s, ok := modelSpecs[name]; ok {
		return s, name
	}
	for _, f := range familySpecs {
		if strings.HasPrefix(name, f.prefix) {
			return f.spec, name
		}
	}
	return defaultSpec, name
}

// buildInput checks req against the model's spec and maps it onto the
// model's input fields; see the package doc. Its error has
// CodeInvalidInput and names what the model takes.
func buildInput(ref modelRef, req providers.Request) (map[string]any, error) {
	spec, name := specFor(ref)
	withImage := req.Workflow == providers.WorkflowImageToVideo
	if spec.imageRequired && !withImage {
		return nil, providers.Errorf(providers.CodeInvalidInput,
			"replicate submit: %s needs a start image: it takes image_to_video only", name)
	}
	if err := spec.model(name).Check("replicate submit", req); err != nil {
		return nil, err
	}
	in := map[string]any{"prompt": req.Prompt}
	if withImage {
		in[spec.imageField] = req.SourceImageURL
	}
	if req.Seed != nil {
		in["seed"] = *req.Seed
	}
	if req.NegativePrompt != "" {
		in["negative_prompt"] = req.NegativePrompt
	}
	if req.EndFrameURL != "" {
		in[spec.endFrameField] = req.EndFrameURL
	}
	if d := req.DurationSeconds; d > 0 {
		if !spec.noDurationField {
			in["duration"] = d
		}
	}
	if a := req.AspectRatio; a != "" && !spec.noAspectField && (!withImage || spec.aspectWithImage) {
		in["aspect_ratio"] = a
	}
	if r := req.Resolution; r != "" && spec.resolutions != nil {
		maps.Copy(in, spec.resolutions[r]) // Check refused any other
	} else if r != "" && spec.passResolution {
		in["resolution"] = r
	}
	return in, nil
}

// sortedResolutions returns the resolutions of m from the lowest:
// "480p", "720p", "1080p".
func sortedResolutions(m map[string]map[string]any) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	})
}

// model is spec as a catalog entry for the model named name.
func (spec modelSpec) model(name string) providers.Model {
	m := providers.Model{
		ID: name, Name: name, Workflows: []providers.Workflow{providers.WorkflowImageToVideo},
		Durations: spec.durations, MinDurationSeconds: spec.minDuration, MaxDurationSeconds: spec.maxDuration,
		AspectRatios: spec.aspectRatios, Seed: spec.seed, NegativePrompt: spec.negativePrompt,
		EndFrame: spec.endFrameField != "", Limits: spec.limits,
	}
	if !spec.imageRequired {
		m.Workflows = append([]providers.Workflow{providers.WorkflowTextToVideo}, m.Workflows...)
	}
	if spec.resolutions != nil {
		m.Resolutions = sortedResolutions(spec.resolutions)
	}
	return m
}

// Catalog lists the models of modelSpecs (not the families, whose members
// differ in ways the driver does not know) and the driver's defaults.
func (d *Driver) Catalog() providers.Catalog {
	c := providers.Catalog{Defaults: make(map[providers.Workflow]string, len(d.models))}
	for wf, ref := range d.models {
		c.Defaults[wf] = ref.String()
	}
	for _, name := range slices.Sorted(maps.Keys(modelSpecs)) {
		c.Models = append(c.Models, modelSpecs[name].model(name))
	}
	return c
}

var _ providers.Cataloger = (*Driver)(nil)

// String is the model id ref was parsed from.
func (ref modelRef) String() string {
	switch {
	case ref.owner == "":
		return ref.version
	case ref.version != "":
		return ref.owner + "/" + ref.name + ":" + ref.version
	}
	return ref.owner + "/" + ref.name
}
