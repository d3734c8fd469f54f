package luma

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// submitHooked starts a generation with callbacks to the engine's URL.
func submitHooked(t *testing.T, d *Driver) string {
	t.Helper()
	req := textRequest()
	req.WebhookURL = "https://vidgate.example/webhooks/luma"
	id, err := d.Submit(t.Context(), req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v", req, err)
	}
	return id
}

// TestWebhookGenuine: a genuine callback verifies and says what Status
// says.
func TestWebhookGenuine(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	f.set(t, id, "generation_completed.json")
	want, err := d.Status(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := f.callback(t, id, nil)
	body := mustBody(t, r)
	wh, err := d.VerifyWebhook(r, body)
	if err != nil {
		t.Fatalf("VerifyWebhook(callback of %s) error = %v, want nil", id, err)
	}
	if wh.EventID != id+":completed" {
		t.Errorf("VerifyWebhook(callback of %s).EventID = %q, want %q", id, wh.EventID, id+":completed")
	}
	if !reflect.DeepEqual(wh.Status, want) {
		t.Errorf("VerifyWebhook(callback of %s).Status = %+v, want %+v (what Status says)", id, wh.Status, want)
	}
}

func TestWebhookToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query func(url.Values)
	}{
		{"missing", func(q url.Values) { q.Del("token") }},
		{"wrong", func(q url.Values) { q.Set("token", "cbt_5f0b1e9a2c7d4e8f9a0b1c2e") }},
		{"prefix", func(q url.Values) { q.Set("token", fakeToken[:len(fakeToken)-1]) }},
		{"longer", func(q url.Values) { q.Set("token", fakeToken+"x") }},
		{"empty", func(q url.Values) { q.Set("token", "") }},
		{"twice, wrong first", func(q url.Values) { q["token"] = []string{"nope", fakeToken} }},
	}
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	f.set(t, id, "generation_completed.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.callback(t, id, nil)
			q := r.URL.Query()
			tt.query(q)
			r.URL.RawQuery = q.Encode()
			if _, err := d.VerifyWebhook(r, mustBody(t, r)); providers.ErrorCode(err) != providers.CodeUnauthenticated {
				t.Errorf("VerifyWebhook(token %s) error = %v, want code %s", tt.name, err, providers.CodeUnauthenticated)
			}
		})
	}
	// Nothing was confirmed with Luma for a callback without the token.
	for _, req := range f.seen() {
		if req.Method == http.MethodGet {
			t.Errorf("VerifyWebhook(bad token) sent GET %s, want no call to Luma", req.Path)
		}
	}
}

func TestWebhookWithoutCallbackToken(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	r := f.callback(t, id, nil)
	off, err := New(Config{Conn: providers.Conn{APIKey: fakeKey, BaseURL: f.srv.URL + prefix, HTTPClient: f.srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.VerifyWebhook(r, mustBody(t, r)); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook() with no CallbackToken configured error = %v, want code %s", err, providers.CodeUnauthenticated)
	}
}

// TestWebhookForgedBody: the body's state is never believed; the
// confirming GET's is.
func TestWebhookForgedBody(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	f.set(t, id, "generation_dreaming.json")

	forged := loadFixture(t, "callback_completed.json") // claims completed, with assets
	forged["id"] = id
	forged["assets"] = map[string]any{"video": "https://attacker.example/evil.mp4"}
	body, _ := json.Marshal(forged)
	wh, err := d.VerifyWebhook(f.callback(t, id, body), body)
	if err != nil {
		t.Fatalf("VerifyWebhook(forged completed) error = %v, want nil", err)
	}
	if wh.Status.State != providers.StateProcessing || len(wh.Status.Outputs) != 0 || wh.EventID != id+":dreaming" {
		t.Errorf("VerifyWebhook(forged completed) = %+v, want state %s from the confirming GET, no outputs, event %q", wh, providers.StateProcessing, id+":dreaming")
	}
	gets := 0
	for _, req := range f.seen() {
		if req.Method == http.MethodGet && req.Path == prefix+"/generations/"+id {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("VerifyWebhook(forged completed) sent %d GET /generations/%s, want 1", gets, id)
	}
}

// TestWebhookEventIDs: retries of one callback share an EventID; a new
// state is a new one.
func TestWebhookEventIDs(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	f.set(t, id, "generation_dreaming.json")
	event := func() string {
		r := f.callback(t, id, nil)
		wh, err := d.VerifyWebhook(r, mustBody(t, r))
		if err != nil {
			t.Fatalf("VerifyWebhook(callback of %s) error = %v", id, err)
		}
		return wh.EventID
	}
	first, retry := event(), event()
	f.set(t, id, "generation_completed.json")
	done := event()
	if first != retry {
		t.Errorf("EventID of a retried callback = %q, then %q; want the same", first, retry)
	}
	if first == done {
		t.Errorf("EventID of dreaming and completed = %q both, want different", first)
	}
}

func TestWebhookBadBodies(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{})
	id := submitHooked(t, d)
	tests := []struct {
		name string
		body string
		want providers.Code
	}{
		{"unknown generation", `{"id":"00000000-0000-4000-8000-000000000000","state":"completed"}`, providers.CodeNotFound},
		{"not json", `state=completed`, providers.CodeInvalidInput},
		{"no id", `{"state":"completed"}`, providers.CodeInvalidInput},
		{"path in id", `{"id":"../credits","state":"completed"}`, providers.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.callback(t, id, []byte(tt.body))
			if _, err := d.VerifyWebhook(r, []byte(tt.body)); providers.ErrorCode(err) != tt.want {
				t.Errorf("VerifyWebhook(%s) error = %v, want code %s", tt.body, err, tt.want)
			}
		})
	}
}

func TestWebhookConfirmUnavailable(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	d := f.driver(t, Config{Conn: providers.Conn{Timeout: 100 * time.Millisecond}})
	id := submitHooked(t, d)
	r := f.callback(t, id, nil)
	body := mustBody(t, r)
	f.setHang(true)
	if _, err := d.VerifyWebhook(r, body); providers.ErrorCode(err) != providers.CodeUnavailable {
		t.Errorf("VerifyWebhook() while Luma hangs error = %v, want code %s", err, providers.CodeUnavailable)
	}
}

func mustBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
