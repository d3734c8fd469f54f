package veo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fakeVeo is a fake of Veo on the Gemini API as Google's reference and
// go-genai (googleapis/go-genai, models.go for the Gemini Developer API)
// describe it:
//
//   - the API key in x-goog-api-key (or the key query parameter, which
//     Google also takes); none: 403 PERMISSION_DENIED, a wrong one: 400
//     with an ErrorInfo reason API_KEY_INVALID, as Google answers;
//   - POST /v1beta/models/{model}:predictLongRunning, its body validated
//     strictly against the layout generateVideosParametersToMldev and
//     generateVideosConfigToMldev build (predictSchema): an unknown field
//     anywhere, a value of the wrong JSON type, or an out-of-range value
//     (aspect ratio, duration, resolution, per model: fakeModels) is a 400
//     INVALID_ARGUMENT; the answer is the operation {name}; a
//     webhookConfig's first URI is remembered for notification;
//   - GET /v1beta/{name} (unknown: 404 NOT_FOUND);
//   - the generated file at /v1beta/files/{id}:download?alt=media, which
//     needs the key like any call (the engine sends it in the header; the
//     fake notes which), and /v1beta/files/moved:download redirects to
//     another host when a test asks;
//   - any other path or method: 404 NOT_FOUND.
//
// Every error is a google.rpc.Status body, {"error": {code, message,
// status, details?}}, a 429 with a RetryInfo detail. Operations stay
// running until a test moves them.
//
// Each answer is a fixture from testdata/ with its name and video URIs
// filled in (written from these sources, not recorded):
//
//	operation_*.json   the operation: go-genai models.go,
//	                   generateVideosOperationFromMldev ({name, metadata,
//	                   done, error, response.generateVideoResponse}),
//	                   generateVideosResponseFromMldev (generatedSamples,
//	                   raiMediaFilteredCount, raiMediaFilteredReasons),
//	                   generatedVideoFromMldev and videoFromMldev (a
//	                   sample's video is {uri, encodedVideo, encoding});
//	                   render refuses a fixture with any other video field
//	error_*.json       google.rpc.Status as the Gemini API sends it (Google's
//	                   API error reference; go-genai api_client.go only
//	                   passes it through)
//	webhook_*.json     a notification: its layout is NOT confirmed (go-genai
//	                   has the request side only, types.go WebhookConfig);
//	                   the event type video.generated is from Google's
//	                   WebhookService reference, the rest a guess, which is
//	                   why the driver reads nothing but an operation name
type fakeVeo struct {
	t      testing.TB
	srv    *httptest.Server
	apiKey string

	mu       sync.Mutex
	ops      map[string]string // name → fixture
	hooks    map[string]string // name → webhookConfig.uris[0]
	failNext *fakeReply
	hang     bool
	requests []fakeRequest
	// downloadAuth is where the last file download carried the key:
	// "header" or "query".
	downloadAuth string
	// redirect is where /v1beta/files/moved:download sends its client.
	redirect string
}

type fakeReply struct {
	status     int
	fixture    string
	retryAfter string         // a Retry-After header
	retryDelay string         // RetryInfo.retryDelay in the body
	message    string         // replaces the fixture's message
	body       map[string]any // replaces the fixture
}

type fakeRequest struct {
	Method, Path string
	Body         []byte
}

const fakeKey = "AIzaSyD3-fake-veo-key-0123456789abcdef"

var fakeVideo = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")

// fakeModel is what one model accepts.
type fakeModel struct {
	durations   []float64
	resolutions []string // nil: the model takes no resolution parameter
	// eightOnly are the resolutions made in 8-second clips only (the
	// Gemini API's video guide, "Veo model parameters": "1080p (8s
	// duration only)", "4k (8s duration only)").
	eightOnly []string
	// lastFrame: the model takes instances[0].lastFrame, with an image
	// (Veo 3.1's "first and last frames" interpolation).
	lastFrame bool
}

var fakeModels = map[string]fakeModel{
	"veo-3.0-generate-001":          {[]float64{4, 6, 8}, []string{"720p", "1080p"}, []string{"1080p"}, false},
	"veo-3.0-fast-generate-001":     {[]float64{4, 6, 8}, []string{"720p", "1080p"}, []string{"1080p"}, false},
	"veo-3.1-generate-preview":      {[]float64{4, 6, 8}, []string{"720p", "1080p", "4k"}, []string{"1080p", "4k"}, true},
	"veo-3.1-fast-generate-preview": {[]float64{4, 6, 8}, []string{"720p", "1080p", "4k"}, []string{"1080p", "4k"}, true},
	"veo-2.0-generate-001":          {[]float64{5, 6, 7, 8}, nil, nil, false},
}

func newFake(t testing.TB) *fakeVeo {
	t.Helper()
	f := &fakeVeo{t: t, apiKey: fakeKey, ops: map[string]string{}, hooks: map[string]string{}}
	mux := http.NewServeMux()
	// Anything the routes below do not take, a wrong method on their paths
	// included, is Google's 404.
	mux.HandleFunc("/", f.api(func(w http.ResponseWriter, r *http.Request) {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404_method.json"})
	}))
	mux.HandleFunc("POST /v1beta/models/{action}", f.api(f.predict))
	mux.HandleFunc("GET /v1beta/models/{model}/operations/{op}", f.api(f.get))
	mux.HandleFunc("GET /v1beta/files/{file}", f.api(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.PathValue("file"), ":download") || r.URL.Query().Get("alt") != "media" {
			f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
			return
		}
		f.mu.Lock()
		f.downloadAuth = "query"
		if r.Header.Get("x-goog-api-key") != "" {
			f.downloadAuth = "header"
		}
		redirect := f.redirect
		f.mu.Unlock()
		if r.PathValue("file") == "moved:download" && redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(fakeVideo)
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVeo) driver(t testing.TB, cfg Config) *Driver {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = f.apiKey
	}
	cfg.BaseURL = f.srv.URL
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = f.srv.Client()
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) error = %v", cfg, err)
	}
	return d
}

func (f *fakeVeo) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Body: body})
		hang := f.hang
		f.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		key := r.Header.Get("x-goog-api-key")
		if key == "" {
			key = r.URL.Query().Get("key")
		}
		switch key {
		case f.apiKey:
		case "":
			f.reply(w, fakeReply{status: http.StatusForbidden, fixture: "error_403.json"})
			return
		default:
			f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400_key.json"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}
}

func (f *fakeVeo) predict(w http.ResponseWriter, r *http.Request) {
	model, method, _ := strings.Cut(r.PathValue("action"), ":")
	spec, known := fakeModels[model]
	if method != "predictLongRunning" || !known {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404_model.json"})
		return
	}
	f.mu.Lock()
	fail := f.failNext
	f.failNext = nil
	f.mu.Unlock()
	if fail != nil {
		f.reply(w, *fail)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var in any
	if err := dec.Decode(&in); err != nil || dec.More() {
		f.invalid(w, "Invalid JSON payload received. Unexpected token.")
		return
	}
	if msg, field := predictSchema.check("", in); msg != "" {
		f.badRequest(w, msg, field)
		return
	}
	body := in.(map[string]any)
	instances, _ := body["instances"].([]any)
	if len(instances) != 1 {
		f.invalid(w, "Exactly one instance is required.")
		return
	}
	inst, _ := instances[0].(map[string]any)
	p, _ := body["parameters"].(map[string]any)
	if msg := checkInstance(inst); msg != "" {
		f.invalid(w, msg)
		return
	}
	if msg := spec.checkParameters(model, p); msg != "" {
		f.invalid(w, msg)
		return
	}
	if _, last := inst["lastFrame"]; last {
		if _, first := inst["image"]; !first || !spec.lastFrame {
			f.invalid(w, "lastFrame is not supported by "+model+" without an image.")
			return
		}
	}
	var hook string
	if wc, ok := body["webhookConfig"].(map[string]any); ok {
		uris, _ := wc["uris"].([]any)
		for _, u := range uris {
			if pu, err := url.Parse(u.(string)); err != nil || !pu.IsAbs() || pu.Host == "" {
				f.invalid(w, "Invalid webhook URI.")
				return
			}
		}
		if len(uris) > 0 {
			hook = uris[0].(string)
		}
	}
	name := "models/" + model + "/operations/" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	f.mu.Lock()
	f.ops[name] = "operation_running.json"
	if hook != "" {
		f.hooks[name] = hook
	}
	f.mu.Unlock()
	m := loadFixture(f.t, "operation_create.json")
	m["name"] = name
	writeJSON(w, http.StatusOK, m)
}

// checkInstance checks the instance's values (predictSchema has checked
// its layout and types).
func checkInstance(inst map[string]any) string {
	for _, key := range []string{"image", "lastFrame"} {
		img, ok := inst[key].(map[string]any)
		if !ok {
			continue
		}
		b64, _ := img["bytesBase64Encoded"].(string)
		if _, err := base64.StdEncoding.DecodeString(b64); err != nil || b64 == "" {
			return "Invalid value at 'instances[0]." + key + ".bytes_base64_encoded': not valid base64."
		}
		if mt, _ := img["mimeType"].(string); !slices.Contains([]string{"image/jpeg", "image/png", "image/webp"}, mt) {
			return "Unsupported image mime type."
		}
	}
	if _, hasImage := inst["image"]; !hasImage && inst["prompt"] == nil {
		return "A prompt is required for text-to-video."
	}
	return ""
}

// checkParameters checks parameters' values against what model makes.
// Absent parameters take Google's defaults.
func (m fakeModel) checkParameters(model string, p map[string]any) string {
	if ar, ok := p["aspectRatio"]; ok && ar != "16:9" && ar != "9:16" {
		return "Unsupported aspect ratio. Supported values are 16:9 and 9:16."
	}
	if n, ok := p["durationSeconds"].(json.Number); ok {
		d, _ := n.Float64()
		if !slices.Contains(m.durations, d) {
			return fmt.Sprintf("The specified duration is not supported by this model. Supported durations are %v.", m.durations)
		}
	}
	if res, ok := p["resolution"].(string); ok && slices.Contains(m.eightOnly, res) {
		if n, ok := p["durationSeconds"].(json.Number); ok && n.String() != "8" {
			return "The " + res + " resolution only supports an 8s duration."
		}
	}
	if res, ok := p["resolution"]; ok {
		switch {
		case m.resolutions == nil:
			return "resolution is not supported by " + model + "."
		case !slices.Contains(m.resolutions, res.(string)):
			return fmt.Sprintf("Unsupported resolution. Supported values are %s.", strings.Join(m.resolutions, ", "))
		}
	}
	if n, ok := p["sampleCount"].(json.Number); ok {
		if c, err := n.Int64(); err != nil || c < 1 || c > 4 {
			return "sampleCount must be between 1 and 4."
		}
	}
	if pg, ok := p["personGeneration"]; ok && !slices.Contains([]string{"allow_all", "allow_adult", "dont_allow"}, pg.(string)) {
		return "Unsupported personGeneration value."
	}
	return ""
}

// schema is the layout of a JSON value: its kind ("object", "array",
// "string", "int", "bool", or "any", which takes anything) and, for
// objects, its fields, for arrays, its elements' schema.
type schema struct {
	kind   string
	fields map[string]*schema
	elem   *schema
}

func object(fields map[string]*schema) *schema { return &schema{kind: "object", fields: fields} }
func array(elem *schema) *schema               { return &schema{kind: "array", elem: elem} }

var (
	str     = &schema{kind: "string"}
	integer = &schema{kind: "int"}
	boolean = &schema{kind: "bool"}
	anyJSON = &schema{kind: "any"}
	// inlineImageSchema is imageToMldev's output.
	inlineImageSchema = object(map[string]*schema{"bytesBase64Encoded": str, "mimeType": str})
	// predictSchema is predictLongRunning's body as go-genai's models.go
	// builds it for the Gemini Developer API: generateVideosParametersToMldev
	// (instances[0].prompt/image/video), generateVideosConfigToMldev
	// (parameters.*, instances[0].lastFrame/referenceImages, and
	// webhookConfig at the top level), videoToMldev, imageToMldev,
	// videoGenerationReferenceImageToMldev. What that mode refuses (seed,
	// fps, generateAudio, storageUri …) is an unknown field here.
	predictSchema = object(map[string]*schema{
		"instances": array(object(map[string]*schema{
			"prompt":          str,
			"image":           inlineImageSchema,
			"lastFrame":       inlineImageSchema,
			"video":           object(map[string]*schema{"uri": str, "encodedVideo": str, "encoding": str}),
			"referenceImages": array(object(map[string]*schema{"image": inlineImageSchema, "referenceType": str})),
		})),
		"parameters": object(map[string]*schema{
			"sampleCount":      integer,
			"durationSeconds":  integer,
			"aspectRatio":      str,
			"resolution":       str,
			"personGeneration": str,
			"negativePrompt":   str,
			"enhancePrompt":    boolean,
		}),
		"webhookConfig": object(map[string]*schema{
			"uris":         array(str),
			"userMetadata": anyJSON,
		}),
	})
)

// check returns Google's message for the first place v (at path) breaks s,
// and the field it names; "" if none.
func (s *schema) check(path string, v any) (msg, field string) {
	wrongType := func(typ string) (string, string) {
		b, _ := json.Marshal(v)
		return fmt.Sprintf("Invalid value at '%s' (%s), %s", path, typ, b), path
	}
	switch s.kind {
	case "any":
		return "", ""
	case "string":
		if _, ok := v.(string); !ok {
			return wrongType("TYPE_STRING")
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return wrongType("TYPE_BOOL")
		}
	case "int":
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return wrongType("TYPE_INT32")
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return wrongType("TYPE_MESSAGE")
		}
		for i, e := range a {
			if msg, field := s.elem.check(fmt.Sprintf("%s[%d]", path, i), e); msg != "" {
				return msg, field
			}
		}
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return wrongType("TYPE_MESSAGE")
		}
		keys := slices.Sorted(maps.Keys(m))
		for _, k := range keys {
			sub, known := s.fields[k]
			if !known {
				at := ""
				if path != "" {
					at = " at '" + path + "'"
				}
				return fmt.Sprintf("Invalid JSON payload received. Unknown name %q%s: Cannot find field.", k, at), path
			}
			p := k
			if path != "" {
				p = path + "." + k
			}
			if msg, field := sub.check(p, m[k]); msg != "" {
				return msg, field
			}
		}
	}
	return "", ""
}

func (f *fakeVeo) get(w http.ResponseWriter, r *http.Request) {
	name := "models/" + r.PathValue("model") + "/operations/" + r.PathValue("op")
	f.mu.Lock()
	fixture, ok := f.ops[name]
	f.mu.Unlock()
	if !ok {
		f.reply(w, fakeReply{status: http.StatusNotFound, fixture: "error_404.json"})
		return
	}
	writeJSON(w, http.StatusOK, f.render(name, fixture))
}

// render is operation name's answer: its fixture with its name and the
// fake's file URLs.
func (f *fakeVeo) render(name, fixture string) map[string]any {
	m := loadFixture(f.t, fixture)
	m["name"] = name
	f.checkVideoFields(fixture, m)
	if resp, ok := m["response"].(map[string]any); ok {
		gvr, _ := resp["generateVideoResponse"].(map[string]any)
		samples, _ := gvr["generatedSamples"].([]any)
		for i, s := range samples {
			video := s.(map[string]any)["video"].(map[string]any)
			id := name[strings.LastIndex(name, "/")+1:]
			video["uri"] = f.srv.URL + "/v1beta/files/" + id + "-" + string(rune('a'+i)) + ":download?alt=media"
		}
	}
	return m
}

// checkVideoFields fails the test if an operation's video has a field the
// Gemini API does not send: videoFromMldev (go-genai models.go) reads uri,
// encodedVideo and encoding, nothing else.
func (f *fakeVeo) checkVideoFields(fixture string, op map[string]any) {
	resp, _ := op["response"].(map[string]any)
	gvr, _ := resp["generateVideoResponse"].(map[string]any)
	samples, _ := gvr["generatedSamples"].([]any)
	for _, s := range samples {
		video, _ := s.(map[string]any)["video"].(map[string]any)
		for k := range video {
			if !slices.Contains([]string{"uri", "encodedVideo", "encoding"}, k) {
				f.t.Errorf("fixture %s: video field %q is not on the wire (videoFromMldev reads uri, encodedVideo, encoding)", fixture, k)
			}
		}
	}
}

// set moves operation name to the state of fixture.
func (f *fakeVeo) set(t testing.TB, name, fixture string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ops[name]; !ok {
		t.Fatalf("fake veo: no operation %q", name)
	}
	f.ops[name] = fixture
}

func (f *fakeVeo) put(name, fixture string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops[name] = fixture
}

func (f *fakeVeo) failNextPredict(reply fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = &reply
}

func (f *fakeVeo) setHang(hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = hang
}

func (f *fakeVeo) lastDownloadAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downloadAuth
}

func (f *fakeVeo) redirectTo(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redirect = u
}

func (f *fakeVeo) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeVeo) reply(w http.ResponseWriter, r fakeReply) {
	body := r.body
	if body == nil {
		body = loadFixture(f.t, r.fixture)
	}
	e, _ := body["error"].(map[string]any)
	if e != nil && r.message != "" {
		e["message"] = r.message
	}
	if e != nil && r.retryDelay != "" {
		details, _ := e["details"].([]any)
		for _, d := range details {
			if d := d.(map[string]any); d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
				d["retryDelay"] = r.retryDelay
			}
		}
	}
	if r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	writeJSON(w, r.status, body)
}

func (f *fakeVeo) invalid(w http.ResponseWriter, msg string) {
	f.reply(w, fakeReply{status: http.StatusBadRequest, fixture: "error_400_invalid.json", message: msg})
}

// badRequest is Google's answer to a body that does not parse into the
// request: INVALID_ARGUMENT with a BadRequest detail naming the field.
func (f *fakeVeo) badRequest(w http.ResponseWriter, msg, field string) {
	f.reply(w, fakeReply{status: http.StatusBadRequest, body: map[string]any{"error": map[string]any{
		"code":    400,
		"message": msg,
		"status":  "INVALID_ARGUMENT",
		"details": []any{map[string]any{
			"@type":           "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []any{map[string]any{"field": field, "description": msg}},
		}},
	}}})
}

// notification is the delivery the Gemini API would POST to operation
// name's webhookConfig URI for its current state: fixture (a notification
// body, "" for webhook_video_generated.json) with the operation's name and
// video URI filled in. It fails t if Submit asked for no notification.
func (f *fakeVeo) notification(t testing.TB, name, fixture string) *http.Request {
	t.Helper()
	f.mu.Lock()
	hook, ok := f.hooks[name]
	f.mu.Unlock()
	if !ok {
		t.Fatalf("fake veo: operation %q asked for no notification", name)
	}
	if fixture == "" {
		fixture = "webhook_video_generated.json"
	}
	m := loadFixture(t, fixture)
	if data, ok := m["data"].(map[string]any); ok {
		data["name"] = name
		data["video_uri"] = f.srv.URL + "/v1beta/files/" + name[strings.LastIndex(name, "/")+1:] + "-a:download?alt=media"
	} else {
		m["name"] = name
	}
	body, _ := json.Marshal(m)
	r := httptest.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// loadFixture returns testdata/name decoded. It reports with Errorf, not
// Fatalf: the fake's handlers call it off the test's goroutine.
func loadFixture(t testing.TB, name string) map[string]any {
	m := map[string]any{}
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Errorf("fixture %s: %v", name, err)
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
