package providers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCatalogCheck: Check refuses, with CodeInvalidInput and a message
// naming what the model makes, a request outside a listed model's lists
// or Limits, and checks only options for an unlisted model.
func TestCatalogCheck(t *testing.T) {
	t.Parallel()
	c := Catalog{Models: []Model{{
		ID: "m", Workflows: []Workflow{WorkflowTextToVideo, WorkflowImageToVideo},
		Durations: []int{4, 6, 8}, AspectRatios: []string{"16:9", "9:16", "1:1"}, Resolutions: []string{"720p", "1080p", "4k"},
		EndFrame: true,
		Limits: []Limit{
			{Resolution: "4k", Durations: []int{8}, AspectRatios: []string{"16:9"}},
			{Workflow: WorkflowTextToVideo, Resolution: "1080p", AspectRatios: []string{"16:9", "9:16"}},
			{EndFrame: true, Workflows: []Workflow{WorkflowImageToVideo}},
		},
	}, {
		ID: "ranged", Workflows: []Workflow{WorkflowTextToVideo}, MinDurationSeconds: 2, MaxDurationSeconds: 12,
	}}}
	req := func(change func(*Request)) Request {
		r := Request{Workflow: WorkflowTextToVideo, DurationSeconds: 6, AspectRatio: "16:9", Resolution: "720p"}
		if change != nil {
			change(&r)
		}
		return r
	}
	seed := int64(1)
	tests := []struct {
		name, model string
		req         Request
		says        string // "" means accepted
	}{
		{"within", "m", req(nil), ""},
		{"4k, 8 s, 16:9", "m", req(func(r *Request) { r.Resolution, r.DurationSeconds = "4k", 8 }), ""},
		{"1080p 1:1 image to video", "m", req(func(r *Request) { r.Workflow, r.Resolution, r.AspectRatio = WorkflowImageToVideo, "1080p", "1:1" }), ""},
		{"end frame, image to video", "m", req(func(r *Request) { r.Workflow, r.EndFrameURL = WorkflowImageToVideo, "https://x/e.png" }), ""},
		{"unlisted duration", "m", req(func(r *Request) { r.DurationSeconds = 5 }), `model "m" makes videos of 4, 6 or 8 seconds, not 5`},
		{"unlisted ratio", "m", req(func(r *Request) { r.AspectRatio = "21:9" }), `makes aspect ratio 16:9, 9:16 or 1:1, not "21:9"`},
		{"unlisted resolution", "m", req(func(r *Request) { r.Resolution = "480p" }), `makes 720p, 1080p or 4k video, not "480p"`},
		{"unlisted workflow", "ranged", req(func(r *Request) { r.Workflow = WorkflowImageToVideo }), `offers text_to_video, not "image_to_video"`},
		{"4k at 6 s", "m", req(func(r *Request) { r.Resolution = "4k" }), "not 6 (at 4k: 8 seconds, 16:9 only)"},
		{"4k at 9:16", "m", req(func(r *Request) { r.Resolution, r.DurationSeconds, r.AspectRatio = "4k", 8, "9:16" }), `not "9:16" (at 4k: 8 seconds, 16:9 only)`},
		{"1080p 1:1 text to video", "m", req(func(r *Request) { r.Resolution, r.AspectRatio = "1080p", "1:1" }), "(text_to_video at 1080p: 16:9 or 9:16 only)"},
		{"end frame, text to video", "m", req(func(r *Request) { r.EndFrameURL = "https://x/e.png" }), "(with an end frame: image_to_video only)"},
		{"option not taken", "m", req(func(r *Request) { r.Seed = &seed }), "does not take seed"},
		{"range", "ranged", req(func(r *Request) { r.DurationSeconds = 13 }), "makes videos of 2 to 12 seconds, not 13"},
		{"unlisted model, plain", "other", req(nil), ""},
		{"unlisted model, option", "other", req(func(r *Request) { r.Seed = &seed }), "does not take seed"},
	}
	for _, tt := range tests {
		err := c.Check("vendor submit", tt.model, tt.req)
		switch {
		case tt.says == "" && err != nil:
			t.Errorf("Check(%s) = %v, want nil", tt.name, err)
		case tt.says != "" && ErrorCode(err) != CodeInvalidInput:
			t.Errorf("Check(%s) = %v, want code %s", tt.name, err, CodeInvalidInput)
		case tt.says != "" && !strings.Contains(err.Error(), tt.says):
			t.Errorf("Check(%s) = %q, want it to say %q", tt.name, err, tt.says)
		}
	}
}

func TestModelsFor(t *testing.T) {
	t.Parallel()
	got := ModelsFor("t", "i", map[Workflow]string{WorkflowImageToVideo: "x", WorkflowTextToVideo: ""})
	if got[WorkflowTextToVideo] != "t" || got[WorkflowImageToVideo] != "x" {
		t.Errorf("ModelsFor = %v, want text_to_video t (an empty entry keeps the default), image_to_video x", got)
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if got := Clip("héllo wörld", 5); got != "héllo…" {
		t.Errorf("Clip = %q, want %q (characters, not bytes)", got, "héllo…")
	}
	if got := Clip("short", 5); got != "short" {
		t.Errorf("Clip = %q, want it unchanged", got)
	}
}

// TestAPICreate: Create returns the id the vendor answers, and an answer
// without one is CodeUnknown (the request may exist: not worth a second,
// paid, attempt).
func TestAPICreate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		answer, id string
		code       Code
	}{
		{`{"id":"task-1","status":"PENDING"}`, "task-1", ""},
		{`{"status":"PENDING"}`, "", CodeUnknown},
		{`{"id":""}`, "", CodeUnknown},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/v1/tasks" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, tt.answer)
		}))
		api, err := NewAPI(APIConfig{Conn: Conn{APIKey: "k", BaseURL: srv.URL, HTTPClient: srv.Client()}, Vendor: "acme", Header: BearerAuth})
		if err != nil {
			t.Fatal(err)
		}
		id, err := api.Create(t.Context(), "/v1/tasks", "task", map[string]string{"prompt": "p"})
		srv.Close()
		if id != tt.id || ErrorCode(err) != tt.code || (tt.code == "") != (err == nil) {
			t.Errorf("Create() answered %s = %q, %v; want %q with code %q", tt.answer, id, err, tt.id, tt.code)
		}
		if tt.code != "" && !strings.Contains(err.Error(), "acme submit: answer without a task id") {
			t.Errorf("Create() error = %q, want it to say the answer had no task id", err)
		}
	}
}
