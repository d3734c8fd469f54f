package luma

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

// Submit creates the generation where Luma creates videos
// (POST /generations/video) and not at /generations, which only lists:
// against a fake that routes as Luma does, the old path was a 405 and no
// job could start. The generation Submit returns is then readable.
func TestSubmitCreatesAtVideoRoute(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	for _, req := range []providers.Request{textRequest(), func() providers.Request {
		r := textRequest()
		r.Workflow, r.SourceImageURL = providers.WorkflowImageToVideo, "https://blob.example/src.png"
		return r
	}()} {
		id, err := d.Submit(t.Context(), req)
		if err != nil {
			t.Fatalf("Submit(%s) error = %v, want a generation", req.Workflow, err)
		}
		st, err := d.Status(t.Context(), id)
		if err != nil || st.State != providers.StateQueued {
			t.Errorf("Status(%q) after Submit(%s) = %+v, %v; want queued", id, req.Workflow, st, err)
		}
	}
	for _, r := range f.seen() {
		if r.Method == http.MethodPost && r.Path != prefix+"/generations/video" {
			t.Errorf("Submit sent POST %s, want POST %s/generations/video", r.Path, prefix)
		}
	}
}

// The fake answers as Luma does where the driver could go wrong: a wrong
// route or method, and a body that does not follow VideoCreateParams. A
// fake that accepted these would let a broken driver pass.
func TestFakeIsStrict(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	valid := `{"model":"ray-2","prompt":"a cat","aspect_ratio":"16:9","duration":"5s","resolution":"720p"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		loc                      string // of the 422's first item
	}{
		{"valid", "POST", "/generations/video", valid, 201, ""},
		{"list is not create", "POST", "/generations", valid, 405, ""},
		{"unknown route", "POST", "/generation/video", valid, 404, ""},
		{"get on create", "GET", "/generations/video", "", 405, ""},
		{"unknown field", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","fps":24}`, 422, "body.fps"},
		{"duration", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","duration":"7s"}`, 422, "body.duration"},
		{"duration type", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","duration":5}`, 422, "body.duration"},
		{"resolution", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","resolution":"8k"}`, 422, "body.resolution"},
		{"aspect ratio", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","aspect_ratio":"2:1"}`, 422, "body.aspect_ratio"},
		{"model", "POST", "/generations/video", `{"model":"ray-9","prompt":"a cat"}`, 422, "body.model"},
		{"no model", "POST", "/generations/video", `{"prompt":"a cat"}`, 422, "body.model"},
		{"loop type", "POST", "/generations/video", `{"model":"ray-2","prompt":"a cat","loop":"yes"}`, 422, "body.loop"},
		{"keyframe type", "POST", "/generations/video", `{"model":"ray-2","keyframes":{"frame0":{"type":"video","url":"https://x/y"}}}`, 422, "body.keyframes.frame0"},
		{"keyframe field", "POST", "/generations/video", `{"model":"ray-2","keyframes":{"frame0":{"type":"image","id":"g1"}}}`, 422, "body.keyframes.frame0.image.id"},
		{"not an object", "POST", "/generations/video", `[1]`, 422, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, f.srv.URL+prefix+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+fakeKey)
			req.Header.Set("Content-Type", "application/json")
			res, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Detail json.RawMessage `json:"detail"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("%s %s: body is not JSON: %v", tt.method, tt.path, err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("%s %s %s = HTTP %d %s, want %d", tt.method, tt.path, tt.body, res.StatusCode, body.Detail, tt.status)
			}
			if tt.status == 405 && res.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if tt.loc == "" {
				return
			}
			var items []issue
			if err := json.Unmarshal(body.Detail, &items); err != nil || len(items) == 0 {
				t.Fatalf("422 detail = %s, want a list of issues", body.Detail)
			}
			var locs []string
			for _, l := range items[0].Loc {
				locs = append(locs, strings.Trim(string(mustJSON(t, l)), `"`))
			}
			if got := strings.Join(locs, "."); got != tt.loc {
				t.Errorf("422 first loc = %s (%s), want %s", got, body.Detail, tt.loc)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
