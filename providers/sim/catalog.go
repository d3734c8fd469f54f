package sim

import (
	"fmt"
	"slices"

	"github.com/vidgate/vidgate/providers"
)

// catalog is the simulator's models: what its server accepts, and what its
// driver declares (providers.Cataloger). sim-1 takes every option, so that
// the whole API can be tried without a vendor; sim-1-turbo takes none of
// them, so that refusals can be tried too.
var catalog = []providers.Model{
	{
		ID: "sim-1", Name: "Simulated 1",
		Workflows:          []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo},
		MinDurationSeconds: minDuration, MaxDurationSeconds: maxDuration,
		AspectRatios: aspectRatios, Resolutions: []string{"720p", "1080p", "4k"},
		EndFrame: true, Audio: true, NegativePrompt: true, Seed: true,
	},
	{
		ID: "sim-1-turbo", Name: "Simulated 1 Turbo",
		Workflows:          []providers.Workflow{providers.WorkflowTextToVideo, providers.WorkflowImageToVideo},
		MinDurationSeconds: minDuration, MaxDurationSeconds: maxDuration,
		AspectRatios: aspectRatios, Resolutions: []string{"720p", "1080p"},
	},
}

// Catalog lists the simulator's models; both workflows default to sim-1.
func (d *Driver) Catalog() providers.Catalog {
	return providers.Catalog{
		Models: slices.Clone(catalog),
		Defaults: map[providers.Workflow]string{
			providers.WorkflowTextToVideo: defaultModel, providers.WorkflowImageToVideo: defaultModel,
		},
	}
}

var _ providers.Cataloger = (*Driver)(nil)

// modelNamed returns the catalog entry of id.
func modelNamed(id string) (providers.Model, bool) {
	return providers.Catalog{Models: catalog}.Model(id)
}

// checkOptions refuses a request option model does not take: the simulator,
// like a strict vendor, never ignores one.
func checkOptions(m providers.Model, req *createRequest) error {
	for _, o := range []struct {
		name          string
		asked, offers bool
	}{
		{"seed", req.Seed != nil, m.Seed},
		{"negative_prompt", req.NegativePrompt != "", m.NegativePrompt},
		{"end_image_url", req.EndImageURL != "", m.EndFrame},
		{"audio", req.Audio != nil, m.Audio},
	} {
		if o.asked && !o.offers {
			return fmt.Errorf("%s: model %s does not take it", o.name, m.ID)
		}
	}
	return nil
}
