package drivertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"image"
	"image/png"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// Harness drives a fake vendor for the suite. RunConformanceTests runs its
// subtests in parallel; each calls Driver once with its own t and then the
// other methods with that same t, so a harness may keep one fake vendor per
// t (and must be safe for concurrent use).
type Harness interface {
	// Driver returns the driver under test, talking to a fake vendor server
	// started for t (and stopped by t.Cleanup).
	Driver(t *testing.T) providers.Driver
	// Succeed makes the fake vendor finish requestID with a video output.
	Succeed(t *testing.T, requestID string)
	// Fail makes the fake vendor finish requestID as failed, as the vendor
	// reports code (CodeContentPolicy, CodeInvalidInput …).
	Fail(t *testing.T, requestID string, code providers.Code)
	// FailNextSubmit makes the next Submit answer as the vendor does for
	// code: CodeInvalidInput, CodeContentPolicy (if the vendor refuses at
	// submission; else call t.Skip), CodeRateLimited with retryAfter (whole
	// seconds) as the vendor sends it, CodeUnavailable.
	FailNextSubmit(t *testing.T, code providers.Code, retryAfter time.Duration)
	// WebhookFor returns the HTTP request the vendor would POST for
	// requestID's current state, signed as the vendor signs; nil if the
	// vendor has no webhooks.
	WebhookFor(t *testing.T, requestID string) *http.Request
}

// IdempotencyHarness is an optional Harness capability.
type IdempotencyHarness interface {
	// HonorsIdempotencyKeys reports whether the vendor answers a repeated
	// Request.IdempotencyKey with the request it already started. The suite
	// then checks that the driver sends the key.
	HonorsIdempotencyKeys() bool
}

// SourceImageHarness is an optional Harness capability, for vendors with
// rules about where a source image may come from (Runway takes HTTPS URLs
// only). Without it the suite serves a PNG over plain HTTP on loopback,
// which vendors that fetch the image at submission can read.
type SourceImageHarness interface {
	SourceImageURL(t *testing.T) string
}

// OutputClientHarness is an optional Harness capability, for fake vendors
// whose output URLs http.DefaultClient cannot fetch (TLS test servers).
type OutputClientHarness interface {
	OutputClient(t *testing.T) *http.Client
}

// APIKeyHarness is an optional Harness capability, for vendors called with
// an API key: the suite then checks that the key rides in no request id
// and no output URL — what vidgate queues, stores and may log.
type APIKeyHarness interface {
	APIKey() string
}

// CanceledStateHarness is an optional Harness capability, for vendors that
// document no canceled state (fal: a cancel only removes a queued request
// or signals a running one, and the status API has no canceled value).
// With ReportsCanceled false, the suite checks that Cancel of a running
// request succeeds and that Status still answers, but not that Status turns
// StateCanceled: the driver must not invent a state its vendor does not
// report, and the engine decides a job's state itself on a user's cancel.
// Without the capability the vendor is assumed to report one.
type CanceledStateHarness interface {
	ReportsCanceled() bool
}

// EchoHarness is an optional Harness capability, which every vendor's
// conformance test should wire: it lets the suite check that vendor text
// reaches no error message unredacted.
type EchoHarness interface {
	// EchoNextSubmit makes the next Submit answer as the vendor refuses a
	// request (a 400 or 422 in its documented error body), with text as
	// the vendor's message.
	EchoNextSubmit(t *testing.T, text string)
}

// checkNoKey fails t if what (a request id or URL the driver returned)
// holds h's API key.
func checkNoKey(t *testing.T, h Harness, name, what string) {
	t.Helper()
	kh, ok := h.(APIKeyHarness)
	if !ok || kh.APIKey() == "" {
		return
	}
	if strings.Contains(what, kh.APIKey()) {
		t.Errorf("%s %q holds the vendor's API key: it would be queued, stored and logged", name, what)
	}
}

// timeout bounds each subtest's calls. Fakes answer on loopback in
// milliseconds; this only turns a hang into a failure.
const timeout = 10 * time.Second

// RunConformanceTests runs the suite against h.
func RunConformanceTests(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"SubmitThenStatus", testSubmitThenStatus},
		{"Succeed", testSucceed},
		{"ImageToVideo", testImageToVideo},
		{"Fail", testFail},
		{"SubmitErrors", testSubmitErrors},
		{"UnknownRequest", testUnknownRequest},
		{"CancelRunning", testCancelRunning},
		{"CancelFinished", testCancelFinished},
		{"Webhook", testWebhook},
		{"IdempotencyKey", testIdempotencyKey},
		{"Redaction", testRedaction},
		{"Catalog", testCatalog},
		{"CancelPhases", testCancelPhases},
		{"WebhookReplays", testWebhookReplays},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, h)
		})
	}
}

// request is a plain text-to-video request d accepts, with a fresh
// idempotency key: 5 s, 16:9 and 720p, or what d's catalog says its
// default model makes instead.
func request(d providers.Driver) providers.Request {
	return requestFor(d, providers.WorkflowTextToVideo)
}

// requestFor is request for workflow wf (without its source image).
func requestFor(d providers.Driver, wf providers.Workflow) providers.Request {
	req := providers.Request{
		IdempotencyKey:  "drivertest-" + rand.Text(),
		Workflow:        wf,
		Prompt:          "A lighthouse on a cliff at dusk, waves breaking below, slow aerial orbit.",
		DurationSeconds: 5,
		AspectRatio:     "16:9",
		Resolution:      "720p",
	}
	c, ok := providers.CatalogOf(d)
	if !ok {
		return req
	}
	m, listed := c.Model(c.Defaults[wf])
	if !listed {
		return req
	}
	if sizes := sizesOf(m, req); len(sizes) > 0 {
		req.DurationSeconds, req.AspectRatio, req.Resolution = sizes[0].secs, sizes[0].aspect, sizes[0].res
	}
	return req
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// submit starts a request and fails t if it cannot.
func submit(t *testing.T, ctx context.Context, d providers.Driver) string {
	t.Helper()
	req := request(d)
	id, err := d.Submit(ctx, req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v, want nil", req, err)
	}
	if id == "" {
		t.Fatalf("Submit(%+v) = \"\", want a request id", req)
	}
	return id
}

// status returns the status of id and fails t on an error or a mismatched id.
func status(t *testing.T, ctx context.Context, d providers.Driver, id string) providers.Status {
	t.Helper()
	st, err := d.Status(ctx, id)
	if err != nil {
		t.Fatalf("Status(%q) error = %v, want nil", id, err)
	}
	if st.RequestID != id {
		t.Errorf("Status(%q).RequestID = %q, want %q", id, st.RequestID, id)
	}
	if st.Progress < 0 || st.Progress > 100 {
		t.Errorf("Status(%q).Progress = %d, want 0..100", id, st.Progress)
	}
	return st
}

func testSubmitThenStatus(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	id := submit(t, ctx, d)
	st := status(t, ctx, d, id)
	if st.State != providers.StateQueued && st.State != providers.StateProcessing {
		t.Errorf("Status(%q).State = %q right after Submit, want %q or %q", id, st.State, providers.StateQueued, providers.StateProcessing)
	}
	if st.State.Terminal() || st.Error != nil || len(st.Outputs) > 0 {
		t.Errorf("Status(%q) = %+v right after Submit, want no error and no outputs", id, st)
	}
}

// testImageToVideo submits an image-to-video request — the source image as
// the signed, expiring URL vidgate gives providers — and follows it to a
// video output.
func testImageToVideo(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	req := requestFor(d, providers.WorkflowImageToVideo)
	req.Prompt = "The lighthouse's beam sweeps slowly across the fog."
	req.SourceImageURL = sourceImage(t) + "/files/sources/3f9c2a.png?expires=1795000000&sig=q2Jx0Vb4"
	if sh, ok := h.(SourceImageHarness); ok {
		req.SourceImageURL = sh.SourceImageURL(t)
	}
	id, err := d.Submit(ctx, req)
	if err != nil {
		t.Fatalf("Submit(image to video) error = %v, want nil", err)
	}
	if id == "" {
		t.Fatal("Submit(image to video) = \"\", want a request id")
	}
	h.Succeed(t, id)
	st := status(t, ctx, d, id)
	if st.State != providers.StateSucceeded || !slices.ContainsFunc(st.Outputs, func(o providers.Output) bool { return o.Kind == providers.OutputVideo && o.URL != "" }) {
		t.Fatalf("Status(%q) = %+v after Succeed, want a video output", id, st)
	}
}

// sourceImage serves a 64×64 PNG at every path of a test server, as
// vidgate's signed /files/ links serve an uploaded image, for vendors that
// fetch the image when the request is made, and returns the server's URL.
func sourceImage(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(buf.Bytes())
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

func testSucceed(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	id := submit(t, ctx, d)
	h.Succeed(t, id)
	st := status(t, ctx, d, id)
	if st.State != providers.StateSucceeded || st.Error != nil {
		t.Fatalf("Status(%q) = %+v after Succeed, want state %q and no error", id, st, providers.StateSucceeded)
	}
	checkNoKey(t, h, "the request id", id)
	var video *providers.Output
	for i, o := range st.Outputs {
		checkNoKey(t, h, "the output URL", o.URL)
		if o.URL == "" {
			t.Errorf("Status(%q).Outputs[%d].URL = \"\", want a URL", id, i)
		}
		if o.Kind != providers.OutputVideo && o.Kind != providers.OutputThumbnail {
			t.Errorf("Status(%q).Outputs[%d].Kind = %q, want %q or %q", id, i, o.Kind, providers.OutputVideo, providers.OutputThumbnail)
		}
		if o.Kind == providers.OutputVideo && video == nil {
			video = &st.Outputs[i]
		}
	}
	if video == nil {
		t.Fatalf("Status(%q).Outputs = %+v, want at least one %q output", id, st.Outputs, providers.OutputVideo)
	}

	// The output is fetched as the engine fetches it: through the driver's
	// Downloader when it has one (credentialed downloads), else with a
	// plain GET.
	var resp *http.Response
	if dl, ok := providers.DownloaderOf(d); ok {
		resp, err := dl.Download(ctx, video.URL)
		if err != nil {
			t.Fatalf("Download(%s) error = %v, want nil", video.URL, err)
		}
		defer resp.Body.Close()
		checkOutput(t, video.URL, resp)
		return
	}
	client := http.DefaultClient
	if oc, ok := h.(OutputClientHarness); ok {
		client = oc.OutputClient(t)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, video.URL, nil)
	if err != nil {
		t.Fatalf("output URL %q: %v", video.URL, err)
	}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatalf("GET %s error = %v, want nil", video.URL, err)
	}
	defer resp.Body.Close()
	checkOutput(t, video.URL, resp)
}

// checkOutput fails t unless resp, the download of an output, is a 200
// with bytes.
func checkOutput(t *testing.T, url string, resp *http.Response) {
	t.Helper()
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK || err != nil || n == 0 {
		t.Errorf("GET %s = %d with %d bytes (read error %v), want 200 with bytes", url, resp.StatusCode, n, err)
	}
}

func testFail(t *testing.T, h Harness) {
	tests := []providers.Code{providers.CodeContentPolicy, providers.CodeInvalidInput}
	for _, code := range tests {
		t.Run(string(code), func(t *testing.T) {
			t.Parallel()
			d := h.Driver(t)
			ctx := ctxFor(t)
			id := submit(t, ctx, d)
			h.Fail(t, id, code)
			st := status(t, ctx, d, id)
			if st.State != providers.StateFailed || st.Error == nil {
				t.Fatalf("Status(%q) = %+v after Fail(%s), want state %q with an error", id, st, code, providers.StateFailed)
			}
			if st.Error.Code != code {
				t.Errorf("Status(%q).Error.Code = %s, want %s (error %v)", id, st.Error.Code, code, st.Error)
			}
			if len(st.Outputs) > 0 {
				t.Errorf("Status(%q).Outputs = %+v for a failed request, want none", id, st.Outputs)
			}
		})
	}
}

func testSubmitErrors(t *testing.T, h Harness) {
	tests := []struct {
		code       providers.Code
		retryAfter time.Duration
	}{
		{providers.CodeInvalidInput, 0},
		{providers.CodeContentPolicy, 0},
		{providers.CodeRateLimited, 3 * time.Second},
		{providers.CodeUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			t.Parallel()
			d := h.Driver(t)
			ctx := ctxFor(t)
			h.FailNextSubmit(t, tt.code, tt.retryAfter)
			req := request(d)
			id, err := d.Submit(ctx, req)
			if got := providers.ErrorCode(err); got != tt.code {
				t.Fatalf("Submit() = %q, %v; want an error with code %s", id, err, tt.code)
			}
			if got := providers.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("RetryAfter(Submit() error %v) = %s, want %s", err, got, tt.retryAfter)
			}
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Errorf("Submit() error = %T %v, want a *providers.Error in its chain", err, err)
			} else if strings.Contains(e.Message, req.Prompt) {
				t.Errorf("Submit() error message %q contains the prompt, want it kept out of logs", e.Message)
			}
			// The refusal was for one call only: the vendor works again.
			submit(t, ctx, d)
		})
	}
}

func testUnknownRequest(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	const id = "drivertest0unknown0000000000000"
	if _, err := d.Status(ctx, id); providers.ErrorCode(err) != providers.CodeNotFound {
		t.Errorf("Status(%q) error = %v, want code %s", id, err, providers.CodeNotFound)
	}
	if err := d.Cancel(ctx, id); providers.ErrorCode(err) != providers.CodeNotFound && providers.ErrorCode(err) != providers.CodeUnimplemented {
		t.Errorf("Cancel(%q) error = %v, want code %s", id, err, providers.CodeNotFound)
	}
}

func testCancelRunning(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	id := submit(t, ctx, d)
	err := d.Cancel(ctx, id)
	if providers.ErrorCode(err) == providers.CodeUnimplemented {
		t.Skipf("Cancel(%q) = %v: the driver cannot cancel", id, err)
	}
	if err != nil {
		t.Fatalf("Cancel(%q) error = %v, want nil", id, err)
	}
	if ch, ok := h.(CanceledStateHarness); ok && !ch.ReportsCanceled() {
		// Nothing to wait for: the vendor has no canceled state.
		status(t, ctx, d, id)
		return
	}
	// A vendor may stop the request asynchronously.
	var st providers.Status
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st = status(t, ctx, d, id); st.State == providers.StateCanceled || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.State != providers.StateCanceled {
		t.Errorf("Status(%q).State = %q after Cancel, want %q", id, st.State, providers.StateCanceled)
	}
}

func testCancelFinished(t *testing.T, h Harness) {
	d := h.Driver(t)
	ctx := ctxFor(t)
	id := submit(t, ctx, d)
	h.Succeed(t, id)
	err := d.Cancel(ctx, id)
	if providers.ErrorCode(err) == providers.CodeUnimplemented {
		t.Skipf("Cancel(%q) = %v: the driver cannot cancel", id, err)
	}
	if err != nil {
		t.Errorf("Cancel(%q) of a finished request error = %v, want nil", id, err)
	}
	if st := status(t, ctx, d, id); st.State != providers.StateSucceeded {
		t.Errorf("Status(%q).State = %q after canceling a finished request, want %q", id, st.State, providers.StateSucceeded)
	}
}

// finishedForWebhooks returns the driver under test, as itself and as a
// WebhookVerifier, its context and a request it has finished; it skips t
// when the driver verifies no webhooks.
func finishedForWebhooks(t *testing.T, h Harness) (providers.Driver, providers.WebhookVerifier, context.Context, string) {
	d := h.Driver(t)
	v, ok := d.(providers.WebhookVerifier)
	if !ok {
		t.Skipf("%T is not a providers.WebhookVerifier", d)
	}
	ctx := ctxFor(t)
	id := submit(t, ctx, d)
	h.Succeed(t, id)
	return d, v, ctx, id
}

// readBody reads the body of a delivery.
func readBody(t *testing.T, r *http.Request) []byte {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading a delivery's body: %v", err)
	}
	return body
}

func testWebhook(t *testing.T, h Harness) {
	d, v, ctx, id := finishedForWebhooks(t, h)
	want := status(t, ctx, d, id)

	// webhook returns a fresh copy of the delivery and its body.
	webhook := func() (*http.Request, []byte) {
		t.Helper()
		r := h.WebhookFor(t, id)
		if r == nil {
			t.Skipf("WebhookFor(%q) = nil: the vendor sends no webhooks", id)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatalf("reading the body of WebhookFor(%q): %v", id, err)
		}
		return r, body
	}

	// The genuine delivery verifies and says what Status says.
	r, body := webhook()
	wh, err := v.VerifyWebhook(r, body)
	if err != nil {
		t.Fatalf("VerifyWebhook(WebhookFor(%q)) error = %v, want nil", id, err)
	}
	if wh.EventID == "" {
		t.Errorf("VerifyWebhook(WebhookFor(%q)).EventID = \"\", want the delivery id", id)
	}
	got := wh.Status
	if got.RequestID != id || got.State != want.State || len(got.Outputs) != len(want.Outputs) {
		t.Errorf("VerifyWebhook(WebhookFor(%q)).Status = %+v, want %+v", id, got, want)
	}
	for i := range min(len(got.Outputs), len(want.Outputs)) {
		if got.Outputs[i].URL != want.Outputs[i].URL || got.Outputs[i].Kind != want.Outputs[i].Kind {
			t.Errorf("VerifyWebhook(WebhookFor(%q)).Status.Outputs[%d] = %+v, want %+v", id, i, got.Outputs[i], want.Outputs[i])
		}
	}

	// A tampered body does not verify.
	r, body = webhook()
	tampered := []byte(strings.Replace(string(body), id, id+"x", 1))
	if string(tampered) == string(body) {
		tampered = append(body, ' ')
	}
	if _, err := v.VerifyWebhook(r, tampered); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook(tampered body) error = %v, want code %s", err, providers.CodeUnauthenticated)
	}

	// Nor does a forged signature.
	r, body = webhook()
	if !forgeSignatures(r.Header) {
		t.Errorf("WebhookFor(%q) has no header named like *signature* to forge: %v", id, r.Header)
	} else if _, err := v.VerifyWebhook(r, body); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook(forged signature %v) error = %v, want code %s", r.Header, err, providers.CodeUnauthenticated)
	}

	// Nor a delivery without its signature.
	r, body = webhook()
	for name := range r.Header {
		if strings.Contains(strings.ToLower(name), "signature") {
			r.Header.Del(name)
		}
	}
	if _, err := v.VerifyWebhook(r, body); providers.ErrorCode(err) != providers.CodeUnauthenticated {
		t.Errorf("VerifyWebhook(no signature header) error = %v, want code %s", err, providers.CodeUnauthenticated)
	}
}

// forgeSignatures changes one character in the middle of every token of
// every header named like "signature", within its alphabet (hex or base64),
// so the value still parses but no longer matches. It reports whether there
// was anything to forge. The middle is chosen because the last base64
// character may carry only padding bits, which decoders ignore.
func forgeSignatures(h http.Header) bool {
	forged := false
	for name, vals := range h {
		if !strings.Contains(strings.ToLower(name), "signature") {
			continue
		}
		for i, val := range vals {
			toks := strings.Fields(val)
			for j, tok := range toks {
				b := []byte(tok)
				for k := len(b) / 2; k < len(b); k++ {
					if c, ok := flip(b[k]); ok {
						b[k], forged = c, true
						break
					}
				}
				toks[j] = string(b)
			}
			vals[i] = strings.Join(toks, " ")
		}
	}
	return forged
}

// flip swaps an alphanumeric character with its neighbour in pairs (0↔1 …
// 8↔9, a↔b … y↔z, A↔B … Y↔Z), which keeps hex digits hex.
func flip(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c ^ 1, true
	case 'a' <= c && c <= 'z':
		return ((c - 'a') ^ 1) + 'a', true
	case 'A' <= c && c <= 'Z':
		return ((c - 'A') ^ 1) + 'A', true
	}
	return c, false
}

func testIdempotencyKey(t *testing.T, h Harness) {
	ih, ok := h.(IdempotencyHarness)
	if !ok || !ih.HonorsIdempotencyKeys() {
		t.Skip("the vendor does not honour idempotency keys")
	}
	d := h.Driver(t)
	ctx := ctxFor(t)
	req := request(d)
	first, err := d.Submit(ctx, req)
	if err != nil {
		t.Fatalf("Submit(%+v) error = %v, want nil", req, err)
	}
	again, err := d.Submit(ctx, req)
	if err != nil || again != first {
		t.Errorf("Submit(%+v) again = %q, %v; want %q, nil (the same request)", req, again, err, first)
	}
	if other := submit(t, ctx, d); other == first {
		t.Errorf("Submit() with another key = %q, want a new request id", other)
	}
}

// testRedaction has the vendor refuse a Submit with a message that echoes
// the API key, the prompt, a 32-character prefix of it and the prompt with
// its whitespace changed — as vendors quote what they were sent — and
// checks that none of them reaches the error the driver returns: that text
// goes to the job's event log, logs and the user.
func testRedaction(t *testing.T, h Harness) {
	eh, ok := h.(EchoHarness)
	if !ok {
		t.Skip("the harness cannot make the vendor echo text (no EchoHarness)")
	}
	d := h.Driver(t)
	ctx := ctxFor(t)
	req := request(d)
	req.Prompt = "A red fox trots across a snowy meadow at golden hour, breath misting, camera tracking low beside it."
	words := strings.Fields(req.Prompt)
	echoes := map[string]string{
		"the prompt":                   req.Prompt,
		"a 32-character prefix":        req.Prompt[:32],
		"a 32-character middle":        req.Prompt[40:72],
		"the prompt on several lines":  strings.Join(words, "\n"),
		"the prompt with tabs":         strings.Join(words, "\t "),
		"the prompt without its space": strings.Join(words, ""),
	}
	if kh, ok := h.(APIKeyHarness); ok && kh.APIKey() != "" {
		echoes["the API key"] = kh.APIKey()
	}
	var text strings.Builder
	text.WriteString("request refused:")
	for _, name := range slices.Sorted(maps.Keys(echoes)) {
		text.WriteString(" " + name + ": " + echoes[name] + ";")
	}
	eh.EchoNextSubmit(t, text.String())
	id, err := d.Submit(ctx, req)
	if err == nil {
		t.Fatalf("Submit() = %q, nil after EchoNextSubmit; want the vendor's refusal", id)
	}
	// Whitespace is no disguise: compare with it taken out.
	got := strings.Join(strings.Fields(err.Error()), "")
	for name, echo := range echoes {
		if strings.Contains(got, strings.Join(strings.Fields(echo), "")) {
			t.Errorf("Submit() error %q holds %s, want it redacted", err, name)
		}
	}
	// Nor any 32-character stretch of the prompt.
	for i := 0; i+32 <= len(req.Prompt); i++ {
		if w := strings.Join(strings.Fields(req.Prompt[i:i+32]), ""); strings.Contains(got, w) {
			t.Errorf("Submit() error %q holds %q of the prompt, want it redacted", err, req.Prompt[i:i+32])
			break
		}
	}
	if !strings.Contains(err.Error(), "request refused") {
		t.Errorf("Submit() error %q lost the vendor's own words, want them kept", err)
	}
}

// CancelPhase is when the suite cancels a request.
type CancelPhase string

// Cancel phases.
const (
	CancelQueued   CancelPhase = "queued"
	CancelRunning  CancelPhase = "running"
	CancelFinished CancelPhase = "finished"
)

// CancelOutcome is what a vendor documents for a cancel.
type CancelOutcome struct {
	// Code is what Cancel returns: "" for nil.
	Code providers.Code
	// State is what Status reports right after (the fake applies a cancel
	// at once). "" means the vendor documents no canceled state for the
	// phase: Status must still answer, and not with StateCanceled, which
	// the driver would have invented.
	State providers.State
}

// CancelHarness is an optional Harness capability that turns on the
// cancel phases (RunConformanceTests' "CancelPhases" test): a request is
// canceled while queued, while running and after it finished, twice each,
// and each outcome must be the one the vendor documents.
type CancelHarness interface {
	// Start makes the fake vendor start requestID: running, not finished.
	// For a vendor that reports no queued phase, it does nothing.
	Start(t *testing.T, requestID string)
	// CancelOutcome is what the vendor documents for a cancel in phase.
	CancelOutcome(phase CancelPhase) CancelOutcome
}

func testCancelPhases(t *testing.T, h Harness) {
	ch, ok := h.(CancelHarness)
	if !ok {
		t.Skip("the harness declares no cancel outcomes (no CancelHarness)")
	}
	for _, phase := range []CancelPhase{CancelQueued, CancelRunning, CancelFinished} {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			d := h.Driver(t)
			ctx := ctxFor(t)
			id := submit(t, ctx, d)
			switch phase {
			case CancelRunning:
				ch.Start(t, id)
			case CancelFinished:
				h.Succeed(t, id)
			}
			want := ch.CancelOutcome(phase)
			// Twice: a user's second click, a retried cancel task.
			for range 2 {
				if err := d.Cancel(ctx, id); providers.ErrorCode(err) != want.Code {
					t.Errorf("Cancel(%q) while %s error = %v, want code %q", id, phase, err, want.Code)
				}
				st := status(t, ctx, d, id)
				switch {
				case want.State != "" && st.State != want.State:
					t.Errorf("Status(%q).State after Cancel while %s = %q, want %q", id, phase, st.State, want.State)
				case want.State == "" && st.State == providers.StateCanceled:
					t.Errorf("Status(%q).State after Cancel while %s = %q, want the vendor's own state: it documents no canceled one", id, phase, st.State)
				}
			}
		})
	}
}

// WebhookAtHarness is an optional Harness capability for vendors whose
// webhooks carry a signed timestamp: the suite checks that a delivery
// signed too long ago (a replay) or too far ahead is refused.
type WebhookAtHarness interface {
	// WebhookAt is WebhookFor, signed as sent at at.
	WebhookAt(t *testing.T, requestID string, at time.Time) *http.Request
}

// AccountHarness is an optional Harness capability for vendors whose
// webhooks name the account they are for (fal's X-Fal-Webhook-User-Id):
// the driver under test is configured with the fake's account, and the
// suite checks that a delivery genuinely signed for another account is
// refused.
type AccountHarness interface {
	// WebhookForAccount is WebhookFor, for account.
	WebhookForAccount(t *testing.T, requestID, account string) *http.Request
}

// testWebhookReplays checks a genuine delivery sent twice (a vendor's
// retry: the same event id, which the engine deduplicates on), replayed
// deliveries and, where the vendor names the account, another account's.
func testWebhookReplays(t *testing.T, h Harness) {
	_, v, ctx, id := finishedForWebhooks(t, h)
	r := h.WebhookFor(t, id)
	if r == nil {
		t.Skipf("WebhookFor(%q) = nil: the vendor sends no webhooks", id)
	}
	body := readBody(t, r)
	var ids []string
	for range 2 {
		again := r.Clone(ctx)
		again.Body = io.NopCloser(bytes.NewReader(body))
		wh, err := v.VerifyWebhook(again, body)
		if err != nil {
			t.Fatalf("VerifyWebhook(WebhookFor(%q)) error = %v, want nil", id, err)
		}
		ids = append(ids, wh.EventID)
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("VerifyWebhook of one delivery sent twice: EventIDs %q, want one, the same, to deduplicate on", ids)
	}

	if wh, ok := h.(WebhookAtHarness); ok {
		for _, tt := range []struct {
			name string
			skew time.Duration
			ok   bool
		}{
			{"a minute ago", -time.Minute, true},
			{"an hour ago (a replay)", -time.Hour, false},
			{"ten minutes ago", -10 * time.Minute, false},
			{"ten minutes ahead", 10 * time.Minute, false},
		} {
			r := wh.WebhookAt(t, id, time.Now().Add(tt.skew))
			_, err := v.VerifyWebhook(r, readBody(t, r))
			if tt.ok && err != nil {
				t.Errorf("VerifyWebhook(delivery signed %s) error = %v, want nil", tt.name, err)
			}
			if !tt.ok && providers.ErrorCode(err) != providers.CodeUnauthenticated {
				t.Errorf("VerifyWebhook(delivery signed %s) error = %v, want code %s", tt.name, err, providers.CodeUnauthenticated)
			}
		}
	}

	if ah, ok := h.(AccountHarness); ok {
		r := ah.WebhookForAccount(t, id, "github|someone-else")
		if _, err := v.VerifyWebhook(r, readBody(t, r)); providers.ErrorCode(err) != providers.CodeUnauthenticated {
			t.Errorf("VerifyWebhook(delivery signed for another account) error = %v, want code %s", err, providers.CodeUnauthenticated)
		}
	}
}

// StopsUnfinished is the CancelOutcome of a vendor that stops a request
// that has not finished, which then reports StateCanceled, and leaves a
// finished one as it is.
func StopsUnfinished(phase CancelPhase) CancelOutcome {
	if phase == CancelFinished {
		return CancelOutcome{State: providers.StateSucceeded}
	}
	return CancelOutcome{State: providers.StateCanceled}
}
