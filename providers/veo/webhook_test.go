package veo

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

const (
	fakeToken = "cbt_9d41c0a7e2b84f6a8c3d5e7f"
	hookURL   = "https://vidgate.example/webhooks/veo?x=1"
)

// hooked is a driver with notifications on, and an operation it started
// asking for one.
func hooked(t *testing.T) (*fakeVeo, *Driver, string) {
	t.Helper()
	f := newFake(t)
	d := f.driver(t, Config{CallbackToken: fakeToken})
	req := textRequest()
	req.WebhookURL = hookURL
	id, err := d.Submit(t.Context(), req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v", req, err)
	}
	return f, d, id
}

func mustBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubmitWebhookConfig: webhookConfig goes at the body's top level, as
// go-genai's generateVideosConfigToMldev puts it, with the token in the
// URI, and only when the request has a webhook URL and the driver a token.
func TestSubmitWebhookConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		token      string
		webhookURL string
		want       string // the webhookConfig sent; "" none
	}{
		{"hooked", fakeToken, hookURL, `{"uris":["https://vidgate.example/webhooks/veo?token=` + fakeToken + `&x=1"]}`},
		{"no webhook URL", fakeToken, "", ""},
		{"no token", "", hookURL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			d := f.driver(t, Config{CallbackToken: tt.token})
			req := textRequest()
			req.WebhookURL = tt.webhookURL
			if _, err := d.Submit(t.Context(), req); err != nil {
				t.Fatalf("Submit(%+v) error = %v", req, err)
			}
			var sent map[string]json.RawMessage
			if err := json.Unmarshal(f.seen()[0].Body, &sent); err != nil {
				t.Fatal(err)
			}
			var got, want any
			if sent["webhookConfig"] != nil {
				json.Unmarshal(sent["webhookConfig"], &got)
			}
			if tt.want != "" {
				json.Unmarshal([]byte(tt.want), &want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Submit(%s) sent webhookConfig %s, want %s", tt.name, sent["webhookConfig"], tt.want)
			}
			if strings.Contains(string(sent["parameters"]), "webhook") {
				t.Errorf("Submit(%s) sent parameters %s, want no webhook in them", tt.name, sent["parameters"])
			}
		})
	}
}

func TestSubmitBadWebhookURL(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{CallbackToken: fakeToken})
	req := textRequest()
	req.WebhookURL = "ftp://vidgate.example/hook"
	_, err := d.Submit(t.Context(), req)
	if providers.ErrorCode(err) != providers.CodeInvalidInput || len(f.seen()) != 0 {
		t.Errorf("Submit(ftp webhook URL) error = %v after %d calls, want code %s and no call", err, len(f.seen()), providers.CodeInvalidInput)
	}
}

// TestWebhookGenuine: a genuine notification verifies and says what
// Status says, for both layouts the notification might have.
func TestWebhookGenuine(t *testing.T) {
	t.Parallel()
	for _, fixture := range []string{"webhook_video_generated.json", "webhook_operation_done.json"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			f, d, id := hooked(t)
			f.set(t, id, "operation_done.json")
			want, err := d.Status(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			r := f.notification(t, id, fixture)
			wh, err := d.VerifyWebhook(r, mustBody(t, r))
			if err != nil {
				t.Fatalf("VerifyWebhook(notification of %s) error = %v, want nil", id, err)
			}
			if wh.EventID != id+":succeeded" {
				t.Errorf("VerifyWebhook(notification of %s).EventID = %q, want %q", id, wh.EventID, id+":succeeded")
			}
			// ExpiresAt counts from each read; the rest must match.
			for i := range wh.Status.Outputs {
				wh.Status.Outputs[i].ExpiresAt = want.Outputs[i].ExpiresAt
			}
			if !reflect.DeepEqual(wh.Status, want) {
				t.Errorf("VerifyWebhook(notification of %s).Status = %+v, want %+v (what Status says)", id, wh.Status, want)
			}
		})
	}
}

// TestWebhookToken: without the right token nothing is believed, and
// nothing is asked of Google.
func TestWebhookToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query func(url.Values)
	}{
		{"missing", func(q url.Values) { q.Del("token") }},
		{"wrong", func(q url.Values) { q.Set("token", "cbt_0000000000000000000000") }},
		{"prefix", func(q url.Values) { q.Set("token", fakeToken[:len(fakeToken)-1]) }},
		{"longer", func(q url.Values) { q.Set("token", fakeToken+"x") }},
		{"empty", func(q url.Values) { q.Set("token", "") }},
		{"twice, wrong first", func(q url.Values) { q["token"] = []string{"nope", fakeToken} }},
	}
	f, d, id := hooked(t)
	f.set(t, id, "operation_done.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.notification(t, id, "")
			q := r.URL.Query()
			tt.query(q)
			r.URL.RawQuery = q.Encode()
			if _, err := d.VerifyWebhook(r, mustBody(t, r)); providers.ErrorCode(err) != providers.CodeUnauthenticated {
				t.Errorf("VerifyWebhook(token %s) error = %v, want code %s", tt.name, err, providers.CodeUnauthenticated)
			}
		})
	}
	for _, req := range f.seen() {
		if req.Method == http.MethodGet {
			t.Errorf("VerifyWebhook(bad token) sent GET %s, want no call to Google", req.Path)
		}
	}
}

func TestWebhookWithoutCallbackToken(t *testing.T) {
	t.Parallel()
	f, _, id := hooked(t)
	r := f.notification(t, id, "")
	off := f.driver(t, Config{})
	if _, err := off.VerifyWebhook(r, mustBody(t, r)); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook() with no CallbackToken configured error = %v, want code %s", err, providers.CodeUnauthenticated)
	}
}

// TestWebhookConfirms: the body's claims are never believed; the
// operation Google returns is. A notification that arrives before the
// operation is done reports it running, under another EventID than the
// one for done.
func TestWebhookConfirms(t *testing.T) {
	t.Parallel()
	f, d, id := hooked(t)
	forged := loadFixture(t, "webhook_operation_done.json") // claims done, with a video
	forged["name"] = id
	samples := forged["response"].(map[string]any)["generateVideoResponse"].(map[string]any)["generatedSamples"].([]any)
	samples[0].(map[string]any)["video"].(map[string]any)["uri"] = "https://attacker.example/evil.mp4"
	body, _ := json.Marshal(forged)
	r := f.notification(t, id, "")
	wh, err := d.VerifyWebhook(r, body)
	if err != nil {
		t.Fatalf("VerifyWebhook(forged done) error = %v, want nil", err)
	}
	if wh.Status.State != providers.StateProcessing || len(wh.Status.Outputs) != 0 || wh.EventID != id+":processing" {
		t.Errorf("VerifyWebhook(forged done) = %+v, want the running operation Google reports, EventID %q", wh, id+":processing")
	}
	f.set(t, id, "operation_done.json")
	r = f.notification(t, id, "")
	wh2, err := d.VerifyWebhook(r, mustBody(t, r))
	if err != nil || wh2.EventID == wh.EventID || wh2.Status.State != providers.StateSucceeded {
		t.Errorf("VerifyWebhook(done) = %+v, %v; want succeeded under a new EventID", wh2, err)
	}
}

func TestWebhookBadBody(t *testing.T) {
	t.Parallel()
	f, d, id := hooked(t)
	other := "models/veo-3.0-generate-001/operations/0ther0p"
	tests := []struct {
		name string
		body string
		code providers.Code
	}{
		{"not JSON", `{"data":`, providers.CodeInvalidInput},
		{"no operation", `{"type":"video.generated","data":{"video_uri":"https://x/y"}}`, providers.CodeInvalidInput},
		{"two operations", `{"data":{"name":"` + id + `","other":"` + other + `"}}`, providers.CodeInvalidInput},
		{"not an operation name", `{"name":"../v1beta/files/x:download"}`, providers.CodeInvalidInput},
		{"unknown operation", `{"name":"` + other + `"}`, providers.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.notification(t, id, "")
			if _, err := d.VerifyWebhook(r, []byte(tt.body)); providers.ErrorCode(err) != tt.code {
				t.Errorf("VerifyWebhook(%s) error = %v, want code %s", tt.name, err, tt.code)
			}
		})
	}
}

// TestTokenNeverInErrors: Google quoting the webhook URI back does not put
// the token in an error.
func TestTokenNeverInErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{CallbackToken: fakeToken})
	f.failNextPredict(fakeReply{status: 400, fixture: "error_400_invalid.json", message: "Invalid webhook URI https://vidgate.example/webhooks/veo?token=" + fakeToken})
	req := textRequest()
	req.WebhookURL = hookURL
	_, err := d.Submit(t.Context(), req)
	if err == nil || strings.Contains(err.Error(), fakeToken) {
		t.Errorf("Submit error = %v, want an error without the callback token", err)
	}
}

// FuzzOperationName: whatever the body, operationName returns an
// operation name (the only thing the confirming GET may be steered to) or
// CodeInvalidInput, and never panics.
func FuzzOperationName(f *testing.F) {
	f.Add([]byte(`{"type":"video.generated","data":{"name":"models/veo-3.0-generate-001/operations/abc"}}`))
	f.Add([]byte(`{"name":"models/veo-3.0-generate-001/operations/abc","x":["models/veo-3.0-generate-001/operations/abc"]}`))
	f.Add([]byte(`[[[[[[[[[["models/veo-3.0-generate-001/operations/deep"]]]]]]]]]]`))
	f.Add([]byte(`"models/veo-3.0-generate-001/operations/abc"`))
	f.Fuzz(func(t *testing.T, body []byte) {
		name, err := operationName(body)
		switch {
		case err != nil && providers.ErrorCode(err) != providers.CodeInvalidInput:
			t.Errorf("operationName(%q) error = %v, want code %s", body, err, providers.CodeInvalidInput)
		case err == nil && !opPattern.MatchString(name):
			t.Errorf("operationName(%q) = %q, not an operation name", body, name)
		}
	})
}
