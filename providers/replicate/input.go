package replicate

import (
	"fmt"
	"regexp"
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

// inputSpec is how one model family names the fields of a request.
type inputSpec struct {
	imageField string
	resolution bool // takes "resolution"
	// aspectWithImage: takes "aspect_ratio" for image_to_video too (else
	// only for text_to_video, where the frame is not given).
	aspectWithImage bool
}

// defaultSpec is what most Replicate video models take (seedance, wan,
// veo …).
var defaultSpec = inputSpec{imageField: "image", resolution: true, aspectWithImage: true}

// familySpecs are the families that differ from defaultSpec, by "owner/"
// or "owner/name" prefix.
var familySpecs = []struct {
	prefix string
	spec   inputSpec
}{
	{"kwaivgi/kling", inputSpec{imageField: "start_image"}},
}

func specFor(ref modelRef) inputSpec {
	name := ref.owner + "/" + ref.name
	for _, f := range familySpecs {
		if strings.HasPrefix(name, f.prefix) {
			return f.spec
		}
	}
	return defaultSpec
}

// buildInput maps req onto the model's input fields; see the package doc.
func buildInput(ref modelRef, req providers.Request) map[string]any {
	spec := specFor(ref)
	in := map[string]any{"prompt": req.Prompt}
	withImage := req.Workflow == providers.WorkflowImageToVideo
	if withImage {
		in[spec.imageField] = req.SourceImageURL
	}
	if req.DurationSeconds > 0 {
		in["duration"] = req.DurationSeconds
	}
	if req.AspectRatio != "" && (!withImage || spec.aspectWithImage) {
		in["aspect_ratio"] = req.AspectRatio
	}
	if req.Resolution != "" && spec.resolution {
		in["resolution"] = req.Resolution
	}
	return in
}
