package setup

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/router"
)

func keyed() Settings {
	var s Settings
	s.Replicate.APIKey = "r8_key"
	s.Fal.APIKey = "id:secret"
	s.Runway.APIKey = "rw-key"
	s.Luma.APIKey = "luma-key"
	s.Veo.APIKey = "AIza-key"
	return s
}

func TestDrivers(t *testing.T) {
	t.Parallel()
	all := keyed()
	withHooks := keyed()
	withHooks.Replicate.WebhookSecrets = []string{secretA}
	withHooks.Luma.CallbackToken = "0123456789abcdef0123"
	limited := withHooks
	limited.Replicate.Concurrency, limited.Fal.Concurrency, limited.Runway.Concurrency = 2, 3, 1
	var some Settings
	some.Veo.APIKey, some.Runway.APIKey = "AIza-key", "rw-key"
	some.Replicate.BaseURL = "http://127.0.0.1:1/v1" // configured, but no key: not offered
	var blankKey Settings
	blankKey.Fal.APIKey = "  "

	tests := []struct {
		name      string
		s         Settings
		want      []string
		wantHooks []string // the drivers that are WebhookVerifiers
	}{
		{"no keys: none offered", Settings{}, nil, nil},
		{"a blank key is no key", blankKey, nil, nil},
		{"only keyed providers, in a fixed order", some, []string{"runway", "veo"}, nil},
		{"all, without webhook secrets", all, []string{"replicate", "fal", "runway", "luma", "veo"}, []string{"fal"}},
		{"all, with webhook secrets", withHooks, []string{"replicate", "fal", "runway", "luma", "veo"}, []string{"replicate", "fal", "luma"}},
		{"concurrency limits keep capabilities", limited, []string{"replicate", "fal", "runway", "luma", "veo"}, []string{"replicate", "fal", "luma"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ds, err := tt.s.Drivers()
			if err != nil {
				t.Fatalf("Drivers() error = %v", err)
			}
			var names, hooks []string
			for _, d := range ds {
				names = append(names, d.Name())
				if _, ok := d.(providers.WebhookVerifier); ok {
					hooks = append(hooks, d.Name())
				}
				// Every vendor adapter says whether it honours keys (none
				// does); a wrapper must not lose that.
				if _, ok := d.(providers.Idempotent); !ok {
					t.Errorf("Drivers(): %s (%T) lost providers.Idempotent", d.Name(), d)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("Drivers() names = %v, want %v", names, tt.want)
			}
			if !slices.Equal(hooks, tt.wantHooks) {
				t.Errorf("Drivers() WebhookVerifiers = %v, want %v", hooks, tt.wantHooks)
			}
			providers.NewRegistry(ds...) // no duplicate or empty names
		})
	}
}

// What Describe says about webhooks and idempotency is what Drivers builds.
func TestDescribeMatchesDrivers(t *testing.T) {
	t.Parallel()
	bare, full := keyed(), keyed()
	full.Replicate.WebhookSecrets = []string{secretA}
	full.Luma.CallbackToken = "0123456789abcdef0123"
	full.Veo.CallbackToken = "0123456789abcdef0123"
	for _, c := range []struct {
		s        Settings
		hooksSet bool // the variables webhooks need are set
	}{{bare, false}, {full, true}} {
		ds, err := c.s.Drivers()
		if err != nil {
			t.Fatal(err)
		}
		for i, info := range Describe() {
			d := ds[i]
			if d.Name() != info.Name {
				t.Fatalf("Drivers()[%d] = %s, Describe()[%d] = %s", i, d.Name(), i, info.Name)
			}
			_, hooks := d.(providers.WebhookVerifier)
			want := info.Webhooks && (info.WebhooksNeed == "" || c.hooksSet)
			if hooks != want {
				t.Errorf("%s: WebhookVerifier = %v; Describe says %q", info.Name, hooks, info.Updates())
			}
			if got := providers.HonorsIdempotencyKeys(d); got != info.IdempotencyKeys {
				t.Errorf("%s: HonorsIdempotencyKeys = %v, Describe says %v", info.Name, got, info.IdempotencyKeys)
			}
		}
	}
}

func TestDriversErrors(t *testing.T) {
	t.Parallel()
	s := keyed()
	s.Replicate.Models = map[providers.Workflow]string{providers.WorkflowTextToVideo: "not a model"}
	s.Runway.Concurrency = -1
	s.Luma.Timeout = -time.Second
	s.Fal.UserID = "two words" // reaches fal.New, which refuses it
	_, err := s.Drivers()
	if err == nil {
		t.Fatal("Drivers() with four bad providers: no error")
	}
	for _, want := range []string{"replicate: model for text_to_video", "runway: negative Concurrency -1", "luma: negative Timeout", "fal: user id is not a fal account id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Drivers() error = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "r8_key") {
		t.Errorf("Drivers() error %q quotes an API key", err)
	}
}

// blocking is a driver whose calls block until released, counting the
// calls in flight.
type blocking struct {
	name     string
	entered  chan struct{}
	release  chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
}

func newBlocking(name string) *blocking {
	return &blocking{name: name, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blocking) Name() string { return b.name }

func (b *blocking) call() {
	n := b.inFlight.Add(1)
	for {
		m := b.maxSeen.Load()
		if n <= m || b.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	b.calls.Add(1)
	b.entered <- struct{}{}
	<-b.release
	b.inFlight.Add(-1)
}

func (b *blocking) Submit(context.Context, providers.Request) (string, error) {
	b.call()
	return "req", nil
}

func (b *blocking) Status(context.Context, string) (providers.Status, error) {
	b.call()
	return providers.Status{RequestID: "req", State: providers.StateQueued}, nil
}

func (b *blocking) Cancel(context.Context, string) error {
	b.call()
	return nil
}

func TestLimit(t *testing.T) {
	t.Parallel()
	const limit, callers = 3, 10
	b := newBlocking("sim")
	d := limitFor(t, b, limit)
	ctx := context.Background()

	var wg sync.WaitGroup
	release := sync.OnceFunc(func() { close(b.release) })
	defer wg.Wait()
	defer release() // also on a failure below
	for i := range callers {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = d.Submit(ctx, providers.Request{})
			case 1:
				_, err = d.Status(ctx, "req")
			case 2:
				err = d.Cancel(ctx, "req")
			}
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	for range limit {
		<-b.entered
	}
	// Every slot is taken: a call that cannot wait fails without reaching
	// the driver.
	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	_, err := d.Submit(expired, providers.Request{})
	if !errors.Is(err, ErrNoCallSlot) || providers.ErrorCode(err) != providers.CodeRateLimited {
		t.Fatalf("Submit with every slot busy = %v, want CodeRateLimited wrapping ErrNoCallSlot", err)
	}
	if want := "RATE_LIMITED: sim: all 3 call slots stayed busy (raise VIDGATE_SIM_CONCURRENCY to allow more): the provider was not called"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := b.calls.Load(); got != limit {
		t.Fatalf("with %d slots busy, the driver saw %d calls, want %d", limit, got, limit)
	}
	release()
	wg.Wait()
	if got := b.maxSeen.Load(); got != limit {
		t.Errorf("most calls in flight = %d, want %d", got, limit)
	}
	if got := b.calls.Load(); got != callers {
		t.Errorf("calls that reached the driver = %d, want %d", got, callers)
	}
}

func limitFor(t *testing.T, d providers.Driver, n int) providers.Driver {
	t.Helper()
	l := limit(d, n)
	if n > 0 && l == d {
		t.Fatalf("limit(d, %d) returned d", n)
	}
	return l
}

// A call refused for want of a slot does not count against the provider's
// circuit: it never reached the provider.
func TestLimitIsNoEvidenceForTheRouter(t *testing.T) {
	t.Parallel()
	b := newBlocking("sim")
	d := limitFor(t, b, 1)
	r, err := router.New(providers.NewRegistry(d), router.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := r.Wrap(d)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Status(context.Background(), "req") // holds the only slot
	}()
	defer func() { close(b.release); <-done }()
	<-b.entered
	unavailable := providers.Errorf(providers.CodeUnavailable, "503")
	for range router.DefaultFailures - 1 {
		r.Observe("sim", unavailable)
	}
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	for range 2 * router.DefaultFailures {
		if _, err := w.Submit(expired, providers.Request{}); !errors.Is(err, ErrNoCallSlot) {
			t.Fatalf("Submit = %v, want ErrNoCallSlot", err)
		}
	}
	if got := r.State("sim"); got != router.StateClosed {
		t.Errorf("after %d calls refused for want of a slot: State = %s, want %s", 2*router.DefaultFailures, got, router.StateClosed)
	}
	// The refusals neither failed nor succeeded: one more failure completes
	// the run of failures that began before them.
	r.Observe("sim", unavailable)
	if got := r.State("sim"); got != router.StateOpen {
		t.Errorf("after %d failures around the refusals: State = %s, want %s", router.DefaultFailures, got, router.StateOpen)
	}
}

type fakeVerifier struct{ *blocking }

func (fakeVerifier) VerifyWebhook(*http.Request, []byte) (providers.Webhook, error) {
	return providers.Webhook{EventID: "evt"}, nil
}

type fakeIdempotent struct{ *blocking }

func (fakeIdempotent) HonorsIdempotencyKeys() bool { return true }

type fakeBoth struct{ fakeVerifier }

func (fakeBoth) HonorsIdempotencyKeys() bool { return true }

func TestWrappersKeepCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		d         providers.Driver
		wrap      func(providers.Driver) providers.Driver
		wantHooks bool
		wantIdem  bool
	}{
		{"limit: plain", newBlocking("a"), func(d providers.Driver) providers.Driver { return limit(d, 1) }, false, false},
		{"limit: webhooks", fakeVerifier{newBlocking("a")}, func(d providers.Driver) providers.Driver { return limit(d, 1) }, true, false},
		{"limit: idempotent", fakeIdempotent{newBlocking("a")}, func(d providers.Driver) providers.Driver { return limit(d, 1) }, false, true},
		{"limit: both", fakeBoth{fakeVerifier{newBlocking("a")}}, func(d providers.Driver) providers.Driver { return limit(d, 1) }, true, true},
		{"withoutWebhooks: webhooks", fakeVerifier{newBlocking("a")}, withoutWebhooks, false, false},
		{"withoutWebhooks: both", fakeBoth{fakeVerifier{newBlocking("a")}}, withoutWebhooks, false, true},
		{"withoutWebhooks then limit: both", fakeBoth{fakeVerifier{newBlocking("a")}},
			func(d providers.Driver) providers.Driver { return limit(withoutWebhooks(d), 1) }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := tt.wrap(tt.d)
			if w.Name() != "a" {
				t.Errorf("Name() = %q, want %q", w.Name(), "a")
			}
			v, hooks := w.(providers.WebhookVerifier)
			if hooks != tt.wantHooks {
				t.Fatalf("%T is a WebhookVerifier: %v, want %v", w, hooks, tt.wantHooks)
			}
			if hooks {
				if hook, err := v.VerifyWebhook(nil, nil); err != nil || hook.EventID != "evt" {
					t.Errorf("VerifyWebhook = %+v, %v, want the wrapped driver's answer", hook, err)
				}
			}
			if got := providers.HonorsIdempotencyKeys(w); got != tt.wantIdem {
				t.Errorf("HonorsIdempotencyKeys(%T) = %v, want %v", w, got, tt.wantIdem)
			}
		})
	}
}

// End to end: Drivers' Replicate driver, against a fake Replicate API on
// loopback, never has more than VIDGATE_REPLICATE_CONCURRENCY requests
// open.
func TestDriversEnforceConcurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		concurrency int
		callers     int
		wantMax     int32
	}{
		{"limited to 2", 2, 6, 2},
		{"0 means no limit", 0, 6, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var inFlight, maxSeen, requests atomic.Int32
			entered, unblock := make(chan struct{}, tt.callers+1), make(chan struct{})
			release := sync.OnceFunc(func() { close(unblock) })
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/models/bytedance/seedance-1-pro/predictions" {
					http.NotFound(w, r)
					return
				}
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
				}
				requests.Add(1)
				entered <- struct{}{}
				<-unblock
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`{"id":"p1","status":"starting","model":"bytedance/seedance-1-pro"}`))
			}))
			defer srv.Close()
			defer release() // before srv.Close: a handler still blocked would hold it up

			env := map[string]string{
				"VIDGATE_REPLICATE_API_KEY":     "r8_key",
				"VIDGATE_REPLICATE_BASE_URL":    srv.URL + "/v1",
				"VIDGATE_REPLICATE_CONCURRENCY": strconv.Itoa(tt.concurrency),
			}
			s, err := FromEnv(mapLookup(env))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := s.Drivers()
			if err != nil || len(ds) != 1 {
				t.Fatalf("Drivers() = %v, %v, want one driver", ds, err)
			}
			d := ds[0]
			var wg sync.WaitGroup
			defer wg.Wait()
			defer release()
			for range tt.callers {
				wg.Go(func() {
					if id, err := d.Submit(context.Background(), providers.Request{Workflow: providers.WorkflowTextToVideo, Prompt: "a fox"}); err != nil || id != "p1" {
						t.Errorf("Submit = %q, %v, want p1", id, err)
					}
				})
			}
			for range tt.wantMax {
				<-entered // the most that can be open at once are open
			}
			if tt.concurrency > 0 {
				expired, cancel := context.WithTimeout(context.Background(), -time.Second)
				defer cancel()
				if _, err := d.Submit(expired, providers.Request{Workflow: providers.WorkflowTextToVideo}); !errors.Is(err, ErrNoCallSlot) {
					t.Fatalf("Submit with every slot busy = %v, want ErrNoCallSlot", err)
				}
			}
			release()
			wg.Wait()
			if got := maxSeen.Load(); got != tt.wantMax {
				t.Errorf("most requests open at once = %d, want %d", got, tt.wantMax)
			}
			if got := requests.Load(); got != int32(tt.callers) {
				t.Errorf("requests = %d, want %d", got, tt.callers)
			}
		})
	}
}
