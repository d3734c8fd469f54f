package veo

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestFakeIsStrict: the fake refuses what the Gemini API refuses, with
// Google's error body, so a driver that sends a wrong path, method, field,
// type or value fails its tests rather than passing against a lenient
// fake.
func TestFakeIsStrict(t *testing.T) {
	t.Parallel()
	const model = "/v1beta/models/veo-3.0-generate-001:predictLongRunning"
	ok := `{"instances":[{"prompt":"a cat"}],"parameters":{"aspectRatio":"16:9","durationSeconds":8,"resolution":"720p"}}`
	tests := []struct {
		name, method, path, body string
		noKey                    bool
		status                   int
		gstatus, inMessage       string
	}{
		{name: "valid", method: "POST", path: model, body: ok, status: 200},
		{name: "valid, all Developer API fields", method: "POST", path: "/v1beta/models/veo-3.1-generate-preview:predictLongRunning",
			body: `{"instances":[{"prompt":"a cat","image":{"bytesBase64Encoded":"aGk=","mimeType":"image/png"},"lastFrame":{"bytesBase64Encoded":"aGk=","mimeType":"image/png"}}],` +
				`"parameters":{"aspectRatio":"9:16","durationSeconds":8,"resolution":"4k","sampleCount":1,"personGeneration":"allow_adult","negativePrompt":"dogs","enhancePrompt":true},` +
				`"webhookConfig":{"uris":["https://vidgate.example/hook?token=t"],"userMetadata":{"job":"j1"}}}`, status: 200},
		{name: "wrong method", method: "GET", path: model, status: 404, gstatus: "NOT_FOUND"},
		{name: "wrong path", method: "POST", path: "/v1beta/veo-3.0-generate-001:predictLongRunning", body: ok, status: 404, gstatus: "NOT_FOUND"},
		{name: "wrong verb", method: "POST", path: "/v1beta/models/veo-3.0-generate-001:generateVideos", body: ok, status: 404, gstatus: "NOT_FOUND"},
		{name: "no key", method: "POST", path: model, body: ok, noKey: true, status: 403, gstatus: "PERMISSION_DENIED"},
		{name: "unknown top-level field", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{},"config":{}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: `Unknown name "config"`},
		{name: "webhookConfig inside parameters", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"webhookConfig":{"uris":["https://x/"]}}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: `Unknown name "webhookConfig" at 'parameters'`},
		{name: "seed (Vertex only)", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"seed":1}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: `Unknown name "seed"`},
		{name: "video mimeType", method: "POST", path: model, body: `{"instances":[{"prompt":"a","video":{"uri":"u","mimeType":"video/mp4"}}],"parameters":{}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: `Unknown name "mimeType"`},
		{name: "duration as string", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":"8"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "parameters.durationSeconds"},
		{name: "duration fractional", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":7.5}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "TYPE_INT32"},
		{name: "aspect ratio as number", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"aspectRatio":16}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "TYPE_STRING"},
		{name: "uris not a list", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{},"webhookConfig":{"uris":"https://x/"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "webhookConfig.uris"},
		{name: "relative webhook uri", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{},"webhookConfig":{"uris":["/hook"]}}`, status: 400, gstatus: "INVALID_ARGUMENT"},
		{name: "duration 5 on Veo 3", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":5}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "duration"},
		{name: "duration 4 on Veo 2", method: "POST", path: "/v1beta/models/veo-2.0-generate-001:predictLongRunning", body: `{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":4}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "duration"},
		{name: "aspect 1:1", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"aspectRatio":"1:1"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "aspect ratio"},
		{name: "4k on Veo 3.0", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"resolution":"4k"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "resolution"},
		{name: "resolution on Veo 2", method: "POST", path: "/v1beta/models/veo-2.0-generate-001:predictLongRunning", body: `{"instances":[{"prompt":"a"}],"parameters":{"resolution":"720p"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "resolution"},
		{name: "1080p at 6 s", method: "POST", path: model, body: `{"instances":[{"prompt":"a"}],"parameters":{"durationSeconds":6,"resolution":"1080p"}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "8s"},
		{name: "lastFrame on Veo 3.0", method: "POST", path: model, body: `{"instances":[{"prompt":"a","image":{"bytesBase64Encoded":"aGk=","mimeType":"image/png"},"lastFrame":{"bytesBase64Encoded":"aGk=","mimeType":"image/png"}}],"parameters":{}}`, status: 400, gstatus: "INVALID_ARGUMENT", inMessage: "lastFrame"},
		{name: "two instances", method: "POST", path: model, body: `{"instances":[{"prompt":"a"},{"prompt":"b"}],"parameters":{}}`, status: 400, gstatus: "INVALID_ARGUMENT"},
		{name: "not JSON", method: "POST", path: model, body: `{"instances":`, status: 400, gstatus: "INVALID_ARGUMENT"},
	}
	f := newFake(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.noKey {
				req.Header.Set("x-goog-api-key", fakeKey)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = HTTP %d %s, want %d", tt.method, tt.path, resp.StatusCode, data, tt.status)
			}
			if tt.status == 200 {
				return
			}
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal(data, &e); err != nil || e.Error.Code != tt.status || e.Error.Status != tt.gstatus || !strings.Contains(e.Error.Message, tt.inMessage) {
				t.Errorf("%s %s body = %s, want Google's error {code %d, status %s, message with %q}", tt.method, tt.path, data, tt.status, tt.gstatus, tt.inMessage)
			}
		})
	}
}

// TestFixturesUseWireNames: no operation fixture names a video field the
// Gemini API does not send (videoFromMldev reads uri, encodedVideo,
// encoding), so the fake cannot teach the driver a wrong name again.
func TestFixturesUseWireNames(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ft := &recordingTB{TB: t}
	f.t = ft
	for _, fixture := range []string{"operation_done.json", "operation_partly_filtered.json", "operation_done_webm.json", "webhook_operation_done.json"} {
		f.render("models/veo-3.0-generate-001/operations/x", fixture)
	}
	if ft.failed {
		t.Errorf("fixtures use video fields that are not on the wire: %v", ft.msgs)
	}
	// And render catches one that does.
	ft.failed = false
	m := loadFixture(t, "operation_done.json")
	m["response"].(map[string]any)["generateVideoResponse"].(map[string]any)["generatedSamples"].([]any)[0].(map[string]any)["video"].(map[string]any)["mimeType"] = "video/mp4"
	f.checkVideoFields("inline", m)
	if !ft.failed {
		t.Errorf("render accepted a video with mimeType, want it refused")
	}
}

// recordingTB is a testing.TB whose Errorf records instead of failing.
type recordingTB struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, format)
}
