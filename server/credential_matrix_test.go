package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// The credential matrix: every transport (HTTP, WebSocket, both graphql-sse
// modes) × every kind of credential (none, refused, each role, an API key)
// × every class of operation, each cell allowed or refused as
// docs/security.md says.

// cmCred is one column of the matrix: a credential and who it names.
type cmCred struct {
	name    string
	token   string // "" sends none
	subject string // "" for a refused credential
	role    jobs.Role
}

func (c cmCred) refused() bool { return c.subject == "" }

// cmOutcome is what one cell observed: the error code ("" for success),
// how the refusal or answer came (an HTTP status, or a WebSocket close
// code), and the data of a success.
type cmOutcome struct {
	code string
	how  int // HTTP status of the request (200 for a stream), or the WebSocket close code
	data map[string]any
}

func (o cmOutcome) get(path string) any { return response{Data: o.data}.get(path) }

// resultOutcome reads one GraphQL result.
func resultOutcome(how int, r map[string]any) cmOutcome {
	raw, _ := json.Marshal(r)
	var res response
	json.Unmarshal(raw, &res)
	if len(res.Errors) > 0 {
		return cmOutcome{code: res.Errors[0].code(), how: how}
	}
	return cmOutcome{how: how, data: res.Data}
}

// cmTransport runs one operation as a credential and returns the first
// result (a query's answer, a subscription's first message).
type cmTransport func(t *testing.T, c cmCred, query string, vars map[string]any) cmOutcome

// httpTransport: POST JSON.
func (e *env) httpTransport(t *testing.T, c cmCred, query string, vars map[string]any) cmOutcome {
	res := e.request(t, "POST", "", c.token, mustJSON(map[string]any{"query": query, "variables": vars}), "Content-Type", "application/json")
	defer res.Body.Close()
	var r map[string]any
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("answer is not JSON (%d): %v", res.StatusCode, err)
	}
	return resultOutcome(res.StatusCode, r)
}

// request sends a request to /graphql (with query as its URL query) with
// token, when set, and headers (name, value, …).
func (e *env) request(t *testing.T, method, query, token, body string, headers ...string) *http.Response {
	t.Helper()
	u := e.url + "/graphql"
	if query != "" {
		u += "?" + query
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // ends an event stream
	req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s /graphql: %v", method, err)
	}
	return res
}

// refusal reads an HTTP refusal's code.
func refusal(t *testing.T, res *http.Response) cmOutcome {
	t.Helper()
	defer res.Body.Close()
	var r map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("refusal is not JSON (%d): %s", res.StatusCode, raw)
	}
	o := resultOutcome(res.StatusCode, r)
	if o.code == "" {
		o.code = "NO_CODE"
	}
	return o
}

// wsTransport: graphql-transport-ws, the credential in connection_init.
func (e *env) wsTransport(t *testing.T, c cmCred, query string, vars map[string]any) cmOutcome {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer conn.Close()
	payload := map[string]any{}
	if c.token != "" {
		payload["Authorization"] = "Bearer " + c.token
	}
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": payload})
	type message struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	read := func() (message, cmOutcome, bool) {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failsafe: each read waits for a message
		var m message
		err := conn.ReadJSON(&m)
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			code := "CLOSED"
			if ce.Code == 4401 {
				code = "UNAUTHENTICATED"
			}
			return m, cmOutcome{code: code, how: ce.Code}, false
		}
		if err != nil {
			t.Fatalf("WebSocket as %s: %v", c.name, err)
		}
		return m, cmOutcome{}, true
	}
	for {
		m, closed, ok := read()
		if !ok {
			return closed
		}
		if m.Type == "connection_ack" {
			break
		}
	}
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	for {
		m, closed, ok := read()
		if !ok {
			return closed
		}
		if m.ID != "1" {
			continue
		}
		switch m.Type {
		case "next":
			var r map[string]any
			json.Unmarshal(m.Payload, &r)
			return resultOutcome(200, r)
		case "error":
			var errs []gqlError
			json.Unmarshal(m.Payload, &errs)
			if len(errs) == 0 {
				t.Fatalf("error message without errors: %s", m.Payload)
			}
			return cmOutcome{code: errs[0].code(), how: 200}
		case "complete":
			return cmOutcome{code: "COMPLETE_WITHOUT_RESULT", how: 200}
		}
	}
}

// sseDistinctTransport: graphql-sse distinct connections mode, one stream
// per operation.
func (e *env) sseDistinctTransport(t *testing.T, c cmCred, query string, vars map[string]any) cmOutcome {
	res := e.request(t, "POST", "", c.token, mustJSON(map[string]any{"query": query, "variables": vars}),
		"Content-Type", "application/json", "Accept", "text/event-stream")
	if res.StatusCode != http.StatusOK {
		return refusal(t, res)
	}
	defer res.Body.Close()
	ev := nextEvent(t, readEvents(res.Body))
	if ev.name != "next" {
		t.Fatalf("first event %s %v, want next", ev.name, ev.data)
	}
	return resultOutcome(res.StatusCode, ev.data)
}

// sseSingleTransport: graphql-sse single connection mode. A credential
// reserves a stream (PUT), opens it (GET) and runs the operation on it
// (POST). A refused credential is refused at each of PUT and POST (the
// latter onto a stream that alice reserved and opened for this): the
// outcome is the PUT's, and the POST's must match it.
func (e *env) sseSingleTransport(t *testing.T) cmTransport {
	put := e.request(t, "PUT", "", e.tokens["alice"], "")
	reserved, _ := io.ReadAll(put.Body)
	put.Body.Close()
	open := string(reserved)
	if stream := e.request(t, "GET", "", e.tokens["alice"], "", "Accept", "text/event-stream", "X-GraphQL-Event-Stream-Token", open); stream.StatusCode != http.StatusOK {
		t.Fatalf("alice's stream: %d, want 200", stream.StatusCode)
	}
	return func(t *testing.T, c cmCred, query string, vars map[string]any) cmOutcome {
		res := e.request(t, "PUT", "", c.token, "")
		if res.StatusCode != http.StatusCreated {
			o := refusal(t, res)
			post := refusal(t, e.request(t, "POST", "", c.token, mustJSON(map[string]any{"query": query, "variables": vars, "extensions": map[string]any{"operationId": "x"}}),
				"Content-Type", "application/json", "X-GraphQL-Event-Stream-Token", open))
			if post.code != o.code || post.how != o.how {
				t.Errorf("%s: PUT refused with %d %s, but an operation onto an open stream with %d %s", c.name, o.how, o.code, post.how, post.code)
			}
			return o
		}
		token, _ := io.ReadAll(res.Body)
		res.Body.Close()
		stream := e.request(t, "GET", "", c.token, "", "Accept", "text/event-stream", "X-GraphQL-Event-Stream-Token", string(token))
		if stream.StatusCode != http.StatusOK {
			return refusal(t, stream)
		}
		defer stream.Body.Close()
		events := readEvents(stream.Body)
		op := e.request(t, "POST", "", c.token, mustJSON(map[string]any{"query": query, "variables": vars, "extensions": map[string]any{"operationId": "op"}}),
			"Content-Type", "application/json", "X-GraphQL-Event-Stream-Token", string(token))
		if op.StatusCode != http.StatusAccepted {
			return refusal(t, op)
		}
		op.Body.Close()
		for {
			ev := nextEvent(t, events)
			if ev.data["id"] != "op" {
				continue
			}
			if ev.name != "next" {
				t.Fatalf("first event of the operation %s %v, want next", ev.name, ev.data)
			}
			p, _ := ev.data["payload"].(map[string]any)
			return resultOutcome(stream.StatusCode, p)
		}
	}
}

// cmFixture is what a transport's cells share: one job of each
// credential's subject (QUEUED), another owner's QUEUED and COMPLETED jobs.
type cmFixture struct {
	own      map[string]string // subject → public id of a QUEUED job of theirs
	other    string            // bob's, QUEUED
	inReview string            // bob's, COMPLETED
}

// TestCredentialMatrix drives every cell of transport × credential ×
// operation class over the real endpoint: queries and mutations, and
// subscriptions, over HTTP (POST JSON; subscriptions are not served there,
// so HTTP runs the other classes), a WebSocket (graphql-transport-ws), and
// Server-Sent Events in both graphql-sse modes. A cell is allowed or
// refused as docs/security.md says, with its code: no, expired, forged or
// revoked credentials are UNAUTHENTICATED (HTTP 401 before anything runs,
// WebSocket close 4401 at connection_init); a role's refusals FORBIDDEN or
// NOT_FOUND. A refused cell writes nothing. One environment per transport;
// transports run in parallel, and so do the allowed cells of each.
func TestCredentialMatrix(t *testing.T) {
	t.Parallel()
	const (
		ownQ      = `query($id: ID!) { job(id: $id) { id status } }`
		createM   = `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "credential matrix"}) { job { id status } } }`
		approveM  = `mutation($id: ID!) { approveVideoJob(id: $id) { id status } }`
		auditQ    = `{ auditLog(first: 5) { edges { node { action } } } }`
		statsQ    = `query($since: Time!) { stats(since: $since) { jobsCreated } }`
		statusS   = `subscription($id: ID!) { jobStatus(id: $id) { id status } }`
		myJobsS   = `subscription { myJobs { id status } }`
		reviewsS  = `subscription { reviewQueue { id status } }`
		user      = jobs.RoleUser
		reviewer  = jobs.RoleReviewer
		admin     = jobs.RoleAdmin
		allowed   = ""
		forbidden = "FORBIDDEN"
		notFound  = "NOT_FOUND"
	)
	type class struct {
		name  string
		query string
		sub   bool // a subscription: not over HTTP
		write bool // a mutation
		vars  func(t *testing.T, f *cmFixture, c cmCred, e *env) map[string]any
		// want is the code for each role.
		want map[jobs.Role]string
		// check, for an allowed cell, says what is wrong with its result.
		check func(f *cmFixture, c cmCred, e *env, o cmOutcome) string
	}
	ownJob := func(_ *testing.T, f *cmFixture, c cmCred, _ *env) map[string]any {
		id := f.own[c.subject]
		if id == "" {
			id = f.own["alice"] // a refused credential names no one
		}
		return map[string]any{"id": id}
	}
	otherJob := func(_ *testing.T, f *cmFixture, _ cmCred, _ *env) map[string]any {
		return map[string]any{"id": f.other}
	}
	inReview := func(_ *testing.T, f *cmFixture, _ cmCred, _ *env) map[string]any {
		return map[string]any{"id": f.inReview}
	}
	is := func(path string, want func(f *cmFixture, c cmCred) any) func(*cmFixture, cmCred, *env, cmOutcome) string {
		return func(f *cmFixture, c cmCred, _ *env, o cmOutcome) string {
			if got, w := o.get(path), want(f, c); got != w {
				return fmt.Sprintf("%s = %v, want %v", path, got, w)
			}
			return ""
		}
	}
	constant := func(v any) func(*cmFixture, cmCred) any { return func(*cmFixture, cmCred) any { return v } }
	ownID := func(f *cmFixture, c cmCred) any { return f.own[c.subject] }
	// ownedBy: the result names a job of the caller's.
	ownedBy := func(path string) func(*cmFixture, cmCred, *env, cmOutcome) string {
		return func(_ *cmFixture, c cmCred, e *env, o cmOutcome) string {
			id, _ := o.get(path).(string)
			j, err := e.store.JobByPublicID(context.Background(), id)
			if err != nil || j.OwnerID != c.subject {
				return fmt.Sprintf("%s = %q (%v), want a job of %s's", path, id, err, c.subject)
			}
			return ""
		}
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	classes := []class{
		{name: "query own job", query: ownQ, vars: ownJob,
			want:  map[jobs.Role]string{user: allowed, reviewer: notFound, admin: allowed},
			check: is("job.id", ownID)},
		{name: "query another's job", query: ownQ, vars: otherJob,
			want:  map[jobs.Role]string{user: notFound, reviewer: notFound, admin: allowed},
			check: is("job.status", constant("QUEUED"))},
		{name: "query another's job in review", query: ownQ, vars: inReview,
			want:  map[jobs.Role]string{user: notFound, reviewer: allowed, admin: allowed},
			check: is("job.status", constant("COMPLETED"))},
		{name: "createVideoJob", query: createM, write: true,
			want:  map[jobs.Role]string{user: allowed, reviewer: forbidden, admin: allowed},
			check: ownedBy("createVideoJob.job.id")},
		{name: "approveVideoJob", query: approveM, write: true,
			// Allowed cells approve a job of their own; refused ones try the
			// shared job in review.
			vars: func(t *testing.T, f *cmFixture, c cmCred, e *env) map[string]any {
				if c.refused() || c.role == user {
					return map[string]any{"id": f.inReview}
				}
				return map[string]any{"id": e.reviewable(t)}
			},
			want:  map[jobs.Role]string{user: forbidden, reviewer: allowed, admin: allowed},
			check: is("approveVideoJob.status", constant("APPROVED"))},
		{name: "auditLog", query: auditQ,
			want: map[jobs.Role]string{user: forbidden, reviewer: forbidden, admin: allowed},
			check: func(_ *cmFixture, _ cmCred, _ *env, o cmOutcome) string {
				if edges, _ := o.get("auditLog.edges").([]any); len(edges) == 0 {
					return "auditLog is empty, want the API keys' entries"
				}
				return ""
			}},
		{name: "stats", query: statsQ, vars: func(*testing.T, *cmFixture, cmCred, *env) map[string]any { return map[string]any{"since": since} },
			want: map[jobs.Role]string{user: forbidden, reviewer: forbidden, admin: allowed},
			check: func(_ *cmFixture, _ cmCred, _ *env, o cmOutcome) string {
				if n, _ := o.get("stats.jobsCreated").(float64); n < 6 {
					return fmt.Sprintf("stats.jobsCreated = %v, want at least the fixture's 6", o.get("stats.jobsCreated"))
				}
				return ""
			}},
		{name: "jobStatus own job", query: statusS, sub: true, vars: ownJob,
			want:  map[jobs.Role]string{user: allowed, reviewer: notFound, admin: allowed},
			check: is("jobStatus.id", ownID)},
		{name: "jobStatus another's job", query: statusS, sub: true, vars: otherJob,
			want:  map[jobs.Role]string{user: notFound, reviewer: notFound, admin: allowed},
			check: is("jobStatus.status", constant("QUEUED"))},
		{name: "myJobs", query: myJobsS, sub: true,
			want:  map[jobs.Role]string{user: allowed, reviewer: allowed, admin: allowed},
			check: ownedBy("myJobs.id")},
		{name: "reviewQueue", query: reviewsS, sub: true,
			want: map[jobs.Role]string{user: forbidden, reviewer: allowed, admin: allowed},
			check: func(_ *cmFixture, _ cmCred, _ *env, o cmOutcome) string {
				if s, _ := o.get("reviewQueue.status").(string); !slices.Contains([]string{"COMPLETED", "APPROVED", "REJECTED"}, s) {
					return fmt.Sprintf("reviewQueue.status = %q, want a job in review", s)
				}
				return ""
			}},
	}

	transports := []struct {
		name string
		run  func(t *testing.T, e *env) cmTransport
		// unauthenticated is how a refused credential is refused.
		unauthenticated int
	}{
		{"HTTP", func(_ *testing.T, e *env) cmTransport { return e.httpTransport }, http.StatusUnauthorized},
		{"WebSocket", func(_ *testing.T, e *env) cmTransport { return e.wsTransport }, 4401},
		{"SSE distinct", func(_ *testing.T, e *env) cmTransport { return e.sseDistinctTransport }, http.StatusUnauthorized},
		{"SSE single", func(t *testing.T, e *env) cmTransport { return e.sseSingleTransport(t) }, http.StatusUnauthorized},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e, db, creds, f := newCredentialEnv(t)
			run := tr.run(t, e)

			type cell struct {
				name string
				c    cmCred
				cl   class
				want string
			}
			var allow, refuse []cell
			for _, cl := range classes {
				if cl.sub && tr.name == "HTTP" {
					continue // HTTP serves no subscriptions (POST JSON answers once)
				}
				for _, c := range creds {
					want := "UNAUTHENTICATED"
					if !c.refused() {
						want = cl.want[c.role]
					}
					x := cell{name: cl.name + " as " + c.name, c: c, cl: cl, want: want}
					if want == allowed {
						allow = append(allow, x)
					} else {
						refuse = append(refuse, x)
					}
				}
			}
			varsOf := func(t *testing.T, x cell) map[string]any {
				if x.cl.vars == nil {
					return nil
				}
				return x.cl.vars(t, f, x.c, e)
			}
			t.Run("allowed", func(t *testing.T) {
				for _, x := range allow {
					t.Run(x.name, func(t *testing.T) {
						t.Parallel()
						o := run(t, x.c, x.cl.query, varsOf(t, x))
						if o.code != "" {
							t.Fatalf("code %s (%d), want success", o.code, o.how)
						}
						if p := x.cl.check(f, x.c, e, o); p != "" {
							t.Error(p)
						}
					})
				}
			})
			// Refused cells one at a time: each checks that nothing was
			// written while it ran.
			t.Run("refused", func(t *testing.T) {
				for _, x := range refuse {
					t.Run(x.name, func(t *testing.T) {
						vars := varsOf(t, x)
						before := writes(t, db)
						o := run(t, x.c, x.cl.query, vars)
						if o.code != x.want {
							t.Fatalf("code %q (%d), want %s", o.code, o.how, x.want)
						}
						if x.want == "UNAUTHENTICATED" && o.how != tr.unauthenticated {
							t.Errorf("refused with %d, want %d", o.how, tr.unauthenticated)
						}
						if after := writes(t, db); after != before {
							t.Errorf("refused, but wrote: before %s, after %s", before, after)
						}
					})
				}
			})
		})
	}
}

// reviewable makes a COMPLETED job of bob's for one review cell.
func (e *env) reviewable(t *testing.T) string {
	t.Helper()
	id := e.createID(t, "bob", "credential matrix: to review")
	e.complete(t, id)
	return id
}

// newCredentialEnv is an environment whose Authenticator takes API keys,
// with the matrix's credentials and fixture:
//
//   - none: no credential at all;
//   - expired JWT: alice's, an hour past its exp;
//   - wrong key: a JWT for ada signed with another secret;
//   - revoked API key: partner-7's, revoked;
//   - alice (user), rita (reviewer), ada (admin): JWTs;
//   - API key: partner-7's other key, role user — revoking one key does not
//     lock its owner out (vidgate has no user store, so no user to
//     disable: a subject exists while a credential names it).
//
// Each subject has a QUEUED job (rita's was made while her subject held
// the user role: roles belong to credentials), and bob has one QUEUED and
// one COMPLETED.
func newCredentialEnv(t *testing.T) (*env, *bun.DB, []cmCred, *cmFixture) {
	t.Helper()
	db := jobstest.SQLite(t)
	ctx := context.Background()
	keys := jobs.NewStore(db, nil)
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: liveBroker(t), MaxConnectionsPerIdentity: -1}, authn)
	issue := func(authn *auth.Authenticator, subject string, role jobs.Role, ttl time.Duration) string {
		tok, err := authn.Issue(subject, role, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forger, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("f"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	revoked, k, err := keys.CreateAPIKey(ctx, "partner-7", jobs.RoleUser, "old shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.RevokeAPIKey(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	key, _, err := keys.CreateAPIKey(ctx, "partner-7", jobs.RoleUser, "shop")
	if err != nil {
		t.Fatal(err)
	}
	creds := []cmCred{
		{name: "none"},
		{name: "expired JWT", token: issue(authn, "alice", jobs.RoleUser, -time.Hour)},
		{name: "JWT signed with a wrong key", token: issue(forger, "ada", jobs.RoleAdmin, time.Hour)},
		{name: "revoked API key", token: revoked},
		{name: "user", token: issue(authn, "alice", jobs.RoleUser, time.Hour), subject: "alice", role: jobs.RoleUser},
		{name: "reviewer", token: issue(authn, "rita", jobs.RoleReviewer, time.Hour), subject: "rita", role: jobs.RoleReviewer},
		{name: "admin", token: issue(authn, "ada", jobs.RoleAdmin, time.Hour), subject: "ada", role: jobs.RoleAdmin},
		{name: "API key", token: key, subject: "partner-7", role: jobs.RoleUser},
	}
	for who, tok := range map[string]string{
		"alice": creds[4].token, "ada": creds[6].token, "partner-7": key,
		"bob": issue(authn, "bob", jobs.RoleUser, time.Hour), "rita-as-user": issue(authn, "rita", jobs.RoleUser, time.Hour),
	} {
		e.tokens[who] = tok
	}
	f := &cmFixture{own: map[string]string{}}
	for _, who := range []string{"alice", "ada", "partner-7", "rita-as-user"} {
		f.own[strings.TrimSuffix(who, "-as-user")] = e.createID(t, who, "credential matrix: "+who+"'s own")
	}
	f.other = e.createID(t, "bob", "credential matrix: another's")
	f.inReview = e.createID(t, "bob", "credential matrix: another's in review")
	e.complete(t, f.inReview)
	return e, db, creds, f
}
