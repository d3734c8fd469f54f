package sim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/providers"
)

// An output is served only at the signed URL the generation hands out:
// the bare path, a forged signature or a stretched expiry get 404, like a
// file that does not exist.
func TestOutputURLIsSigned(t *testing.T) {
	t.Parallel()
	srv, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	id, err := d.Submit(t.Context(), textRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Succeed(id)
	signed := waitState(t, d, id, providers.StateSucceeded).Outputs[0].URL
	u, _ := url.Parse(signed)
	q := u.Query()
	bare := strings.Split(signed, "?")[0]
	forged := bare + "?" + url.Values{"expires": {q.Get("expires")}, "sig": {strings.Repeat("A", len(q.Get("sig")))}}.Encode()
	stretched := bare + "?" + url.Values{"expires": {q.Get("expires") + "0"}, "sig": {q.Get("sig")}}.Encode()
	for target, want := range map[string]int{signed: http.StatusOK, bare: http.StatusNotFound, forged: http.StatusNotFound, stretched: http.StatusNotFound} {
		resp, err := http.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", target, resp.StatusCode, want)
		}
	}
}

// A prompt may ask for outputs up to MaxOutputSize (64 MiB by default):
// whoever writes prompts must not decide that workers fetch gigabytes.
func TestOutputSizeCap(t *testing.T) {
	t.Parallel()
	_, d := newDriver(t, Config{Defaults: Behavior{Hold: true}})
	if _, err := d.Submit(t.Context(), textRequest("x [sim output_size=64MiB]")); err != nil {
		t.Errorf("Submit(64MiB) error = %v, want accepted", err)
	}
	_, err := d.Submit(t.Context(), textRequest("x [sim output_size=65MiB]"))
	if providers.ErrorCode(err) != providers.CodeInvalidInput || !strings.Contains(err.Error(), "output_size") || !strings.Contains(err.Error(), "limit of 67108864 bytes") {
		t.Errorf("Submit(65MiB) error = %v, want INVALID_INPUT naming output_size and the limit", err)
	}
	_, big := newDriver(t, Config{Defaults: Behavior{Hold: true}, MaxOutputSize: 1 << 30})
	if _, err := big.Submit(t.Context(), textRequest("x [sim output_size=1GiB]")); err != nil {
		t.Errorf("Submit(1GiB) with MaxOutputSize 1GiB error = %v, want accepted", err)
	}
	if err := (Config{MaxOutputSize: 17 << 30}).Validate(); err == nil {
		t.Error("Validate(MaxOutputSize 17GiB) = nil, want an error")
	}
}
