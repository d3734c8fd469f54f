package runway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The fake refuses, per model and as Runway does (400 {"error"}), what the
// SDK's schemas do not allow; a fake that took any duration let the old
// rounding go unnoticed.
func TestFakeValidatesPerModel(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	img := `"promptImage":"https://blob.example/a.png"`
	tests := []struct {
		name, path, body string
		status           int
		says             string
	}{
		{"gen4_turbo 6 s", "/v1/image_to_video", `{"model":"gen4_turbo",` + img + `,"ratio":"1280:720","duration":6}`, 200, ""},
		{"gen4_turbo 11 s", "/v1/image_to_video", `{"model":"gen4_turbo",` + img + `,"ratio":"1280:720","duration":11}`, 400, "duration"},
		{"gen4_turbo text", "/v1/text_to_video", `{"model":"gen4_turbo","promptText":"a","ratio":"1280:720","duration":5}`, 400, "model"},
		{"veo3.1 5 s", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"1280:720","duration":5}`, 400, "duration"},
		{"veo3.1 fractional", "/v1/text_to_video", `{"model":"veo3.1","promptText":"a","ratio":"1280:720","duration":6.5}`, 400, "duration"},
		{"veo3 needs 8", "/v1/text_to_video", `{"model":"veo3","promptText":"a","ratio":"1280:720"}`, 400, "duration"},
		{"gen3a_turbo 6 s", "/v1/image_to_video", `{"model":"gen3a_turbo","promptText":"a",` + img + `,"ratio":"1280:768","duration":6}`, 400, "duration"},
		{"gen3a_turbo 10 s", "/v1/image_to_video", `{"model":"gen3a_turbo","promptText":"a",` + img + `,"ratio":"1280:768","duration":10}`, 200, ""},
		{"gen4.5 text ratio", "/v1/text_to_video", `{"model":"gen4.5","promptText":"a","ratio":"960:960","duration":5}`, 400, "ratio"},
		{"unknown model", "/v1/text_to_video", `{"model":"gen5","promptText":"a","ratio":"1280:720","duration":5}`, 400, "model"},
		{"veo3.1 first and last", "/v1/image_to_video", `{"model":"veo3.1","promptImage":[{"uri":"https://b/a.png","position":"first"},{"uri":"https://b/z.png","position":"last"}],"ratio":"1280:720","duration":8}`, 200, ""},
		{"veo3.1 last only", "/v1/image_to_video", `{"model":"veo3.1","promptImage":[{"uri":"https://b/z.png","position":"last"}],"ratio":"1280:720","duration":8}`, 400, "promptImage"},
		{"gen4_turbo last", "/v1/image_to_video", `{"model":"gen4_turbo","promptImage":[{"uri":"https://b/a.png","position":"first"},{"uri":"https://b/z.png","position":"last"}],"ratio":"1280:720","duration":5}`, 400, "promptImage.1.position"},
		{"http image", "/v1/image_to_video", `{"model":"gen4_turbo","promptImage":"http://b/a.png","ratio":"1280:720","duration":5}`, 400, "promptImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+fakeKey)
			req.Header.Set("X-Runway-Version", APIVersion)
			res, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				ID    string `json:"id"`
				Error string `json:"error"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if res.StatusCode != tt.status || (tt.status == 200) != (body.ID != "") || !strings.HasPrefix(body.Error, tt.says) {
				t.Errorf("POST %s %s = HTTP %d %+v, want %d with an error on %q", tt.path, tt.body, res.StatusCode, body, tt.status, tt.says)
			}
		})
	}
}
