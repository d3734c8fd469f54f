package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// bubbleAPI is vidgate's API served in a synctest bubble, subscriptions
// included: its broker talks to miniredis in memory, and its clients reach
// it on an in-memory network. Make it inside the bubble.
type bubbleAPI struct {
	client *http.Client
}

func newBubbleAPI(t *testing.T, db *bun.DB, authn *auth.Authenticator, cfg server.Config) *bubbleAPI {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, rdb := queuetest.InBubble(t)
	b := broker.New(rdb, broker.Config{Prefix: "vgtest", Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-stopped })
	bucket, err := blob.Open(ctx, "mem://", blob.Options{SigningKey: bytes.Repeat([]byte("k"), 32), BaseURL: "http://vidgate.test"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jobs.NewService(jobs.NewStore(db, nil), jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}, Logger: log, Files: bucket})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Broker, cfg.Logger = b, log
	l := serveInBubble(t, server.New(svc, bucket, authn, cfg))
	tr := &http.Transport{DialContext: l.dial}
	t.Cleanup(tr.CloseIdleConnections)
	return &bubbleAPI{client: &http.Client{Transport: tr}}
}

// do sends a request to /graphql with token and headers (name, value, …)
// and returns the answer; the caller closes its body.
func (a *bubbleAPI) do(t *testing.T, method, token, body string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, "http://vidgate.test/graphql", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("%s /graphql: %v", method, err)
	}
	return res
}

// stream opens an event stream and returns its events.
func (a *bubbleAPI) stream(t *testing.T, method, token, body string, headers ...string) <-chan sseEvent {
	t.Helper()
	res := a.do(t, method, token, body, append(headers, "Accept", "text/event-stream")...)
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s stream: %d %s, want 200", method, res.StatusCode, b)
	}
	return readEvents(res.Body)
}

// distinct subscribes in distinct connections mode.
func (a *bubbleAPI) distinct(t *testing.T, token, query string, vars map[string]any) <-chan sseEvent {
	t.Helper()
	return a.stream(t, "POST", token, mustJSON(map[string]any{"query": query, "variables": vars}), "Content-Type", "application/json")
}

// single reserves a stream and opens it with streamToken, then runs the
// operation opID on it with opToken.
func (a *bubbleAPI) single(t *testing.T, streamToken, opToken, opID, query string, vars map[string]any) <-chan sseEvent {
	t.Helper()
	res := a.do(t, "PUT", streamToken, "")
	reservation, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %s, want 201", res.StatusCode, reservation)
	}
	events := a.stream(t, "GET", streamToken, "", "X-GraphQL-Event-Stream-Token", string(reservation))
	res = a.do(t, "POST", opToken, mustJSON(map[string]any{"query": query, "variables": vars, "extensions": map[string]any{"operationId": opID}}),
		"Content-Type", "application/json", "X-GraphQL-Event-Stream-Token", string(reservation))
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST operation: %d, want 202", res.StatusCode)
	}
	return events
}

// received returns the events that have arrived, and whether the stream
// has ended. Call it after synctest.Wait.
func received(events <-chan sseEvent) (evs []sseEvent, ended bool) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return evs, true
			}
			evs = append(evs, ev)
		default:
			return evs, false
		}
	}
}

// credentialStream is one stream of TestSSEEndsWithItsCredential.
type credentialStream struct {
	name   string
	opID   string // "" in distinct connections mode
	events <-chan sseEvent
}

// result is the GraphQL result an event carries.
func (s credentialStream) result(ev sseEvent) map[string]any {
	if s.opID == "" {
		return ev.data
	}
	if ev.data["id"] != s.opID {
		return nil
	}
	p, _ := ev.data["payload"].(map[string]any)
	return p
}

// open checks the stream is open and has sent nothing since.
func (s credentialStream) open(t *testing.T, when string) {
	t.Helper()
	if evs, ended := received(s.events); ended || len(evs) > 0 {
		t.Errorf("%s, %s: events %+v, ended %v; want an open, quiet stream", s.name, when, evs, ended)
	}
}

// first checks the stream's first event is the job's state.
func (s credentialStream) first(t *testing.T) {
	t.Helper()
	evs, ended := received(s.events)
	if len(evs) != 1 || evs[0].name != "next" || ended || !strings.Contains(mustJSON(s.result(evs[0])), `"QUEUED"`) {
		t.Fatalf("%s: events %+v, ended %v; want the job's state", s.name, evs, ended)
	}
}

// ended checks the stream sent one last "next" event with an
// UNAUTHENTICATED error saying why, and ended without "complete".
func (s credentialStream) ended(t *testing.T, why string) {
	t.Helper()
	evs, ended := received(s.events)
	if len(evs) != 1 || !ended || evs[0].name != "next" {
		t.Errorf("%s: events %+v, ended %v; want one next event, then the end", s.name, evs, ended)
		return
	}
	r := s.result(evs[0])
	errs, _ := r["errors"].([]any)
	var e map[string]any
	if len(errs) == 1 {
		e, _ = errs[0].(map[string]any)
	}
	ext, _ := e["extensions"].(map[string]any)
	msg, _ := e["message"].(string)
	if _, hasData := r["data"]; hasData || ext["code"] != "UNAUTHENTICATED" || !strings.Contains(msg, why) {
		t.Errorf("%s: last result %v, want one UNAUTHENTICATED error saying %q and no data", s.name, r, why)
	}
}

// TestSSEEndsWithItsCredential: Server-Sent Events streams, in both
// graphql-sse modes, end with the credential that authenticated them — a
// JWT when it stops being accepted (exp plus the leeway), not a moment
// before; an API key within APIKeyCheckInterval of its revocation (the
// WebSockets' check) — with a last "next" result holding an UNAUTHENTICATED
// error (per operation in single connection mode) and no "complete", so
// that graphql-sse clients connect again. A single connection stream also
// ends with the credential of an operation it runs. A stream of another,
// valid key stays open throughout.
func TestSSEEndsWithItsCredential(t *testing.T) {
	db := jobstest.SQLite(t)
	keys := jobs.NewStore(db, nil)
	ctx := context.Background()
	revoked, k, err := keys.CreateAPIKey(ctx, "alice", jobs.RoleUser, "shop")
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := keys.CreateAPIKey(ctx, "alice", jobs.RoleUser, "other shop")
	if err != nil {
		t.Fatal(err)
	}
	const interval = 45 * time.Second
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32), Keys: keys, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		api := newBubbleAPI(t, db, authn, server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: -1, APIKeyCheckInterval: interval})
		token, err := authn.Issue("alice", jobs.RoleUser, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		res := api.do(t, "POST", token, mustJSON(map[string]any{"query": createMutation, "variables": map[string]any{"in": map[string]any{"workflowType": "TEXT_TO_VIDEO", "prompt": "a stream's job"}}}),
			"Content-Type", "application/json")
		var created response
		if err := json.NewDecoder(res.Body).Decode(&created); err != nil || created.str("createVideoJob.job.id") == "" {
			t.Fatalf("createVideoJob: %v %+v", err, created)
		}
		res.Body.Close()
		const jobStatus = `subscription($id: ID!) { jobStatus(id: $id) { id status } }`
		vars := map[string]any{"id": created.str("createVideoJob.job.id")}

		jwtStreams := []credentialStream{
			{name: "distinct, JWT", events: api.distinct(t, token, jobStatus, vars)},
			{name: "single, JWT", opID: "op-jwt", events: api.single(t, token, token, "op-jwt", jobStatus, vars)},
			{name: "single, stream by a valid key, operation by a JWT", opID: "op-mixed", events: api.single(t, kept, token, "op-mixed", jobStatus, vars)},
		}
		keyStreams := []credentialStream{
			{name: "distinct, revoked key", events: api.distinct(t, revoked, jobStatus, vars)},
			{name: "single, revoked key", opID: "op-key", events: api.single(t, revoked, revoked, "op-key", jobStatus, vars)},
		}
		keptStream := credentialStream{name: "distinct, valid key", events: api.distinct(t, kept, jobStatus, vars)}
		all := append(append(append([]credentialStream{}, jwtStreams...), keyStreams...), keptStream)
		synctest.Wait()
		for _, s := range all {
			s.first(t)
		}

		// Revoked: ended at the next check, within the interval.
		if err := keys.RevokeAPIKey(ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, s := range keyStreams {
			s.open(t, "just after the revocation")
		}
		time.Sleep(interval)
		synctest.Wait()
		for _, s := range keyStreams {
			s.ended(t, "API key revoked")
		}
		for _, s := range append(jwtStreams, keptStream) {
			s.open(t, "after the key check")
		}

		// The JWT: open until exp plus the leeway, ended then.
		time.Sleep(time.Hour + 29*time.Second - interval)
		synctest.Wait()
		for _, s := range append(jwtStreams, keptStream) {
			s.open(t, "a second before the token stops being accepted")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		for _, s := range jwtStreams {
			s.ended(t, "token expired")
		}
		keptStream.open(t, "after the JWT's expiry")
	})
}
