package e2e

import (
	"testing"
	"time"
)

// A job's options reach the simulated provider, and the stored video has
// them: vidgate reads duration and size back from the file, so the
// artifact says what the request asked for. The same seed and request make
// the same file.
func TestSimHonoursJobOptions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		create := func(in map[string]any) string {
			t.Helper()
			r := d.as("alice").Do(t, `mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id status } } }`,
				map[string]any{"in": in}).OK(t)
			return r.Str("createVideoJob.job.id")
		}
		landscape := map[string]any{"workflowType": "TEXT_TO_VIDEO", "prompt": "a kite over dunes",
			"durationSeconds": 5, "aspectRatio": "16:9", "seed": 1234}
		jobs := []struct {
			id            string
			seconds, w, h float64
		}{
			{create(landscape), 5, 1280, 720},
			{create(landscape), 5, 1280, 720},
			{create(map[string]any{"workflowType": "TEXT_TO_VIDEO", "prompt": "a kite over dunes",
				"durationSeconds": 8, "aspectRatio": "9:16", "resolution": "1080p", "seed": 99}), 8, 1080, 1920},
		}
		var sums []string
		for _, j := range jobs {
			r := d.waitFor(t, j.id, 15*time.Second, "COMPLETED")
			arts := r.List("job.artifacts")
			if len(arts) != 1 {
				t.Fatalf("job %s artifacts = %v, want one video", j.id, arts)
			}
			a := arts[0]
			if a["durationSeconds"] != j.seconds || a["width"] != j.w || a["height"] != j.h {
				t.Errorf("job %s artifact = %v s, %vx%v; want %v s, %vx%v as requested",
					j.id, a["durationSeconds"], a["width"], a["height"], j.seconds, j.w, j.h)
			}
			sums = append(sums, a["sha256"].(string))
		}
		if sums[0] != sums[1] {
			t.Errorf("two jobs of one request and seed stored different files: sha256 %s and %s", sums[0], sums[1])
		}
		if sums[2] == sums[0] {
			t.Errorf("jobs of different requests and seeds stored the same file (sha256 %s)", sums[0])
		}
	})
}
