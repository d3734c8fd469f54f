package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob"
	"github.com/vidgate/vidgate/blob/imgcheck"
	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// env is one vidgate API over a real HTTP listener, its database and its
// bucket, with tokens for a few callers.
type env struct {
	srv     *server.Server
	url     string
	store   *jobs.Store
	vault   *jobs.Vault
	bucket  *blob.Bucket
	queries *atomic.Int64
	tokens  map[string]string
}

func newEnv(t *testing.T, db *bun.DB) *env {
	t.Helper()
	return newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10})
}

func newEnvWith(t *testing.T, db *bun.DB, cfg server.Config) *env {
	t.Helper()
	return newEnvAuth(t, db, cfg, nil)
}

// newEnvAuth is newEnvWith verifying credentials with authn; nil means an
// HS256 Authenticator that issues the tokens of alice, bob, rita and ada.
// With authn set, e.tokens starts empty: the test fills it.
func newEnvAuth(t *testing.T, db *bun.DB, cfg server.Config, authn *auth.Authenticator) *env {
	t.Helper()
	return newEnvService(t, db, cfg, authn, nil)
}

// newEnvService is newEnvAuth with the service's configuration edited by
// edit (nil: none).
func newEnvService(t *testing.T, db *bun.DB, cfg server.Config, authn *auth.Authenticator, edit func(*jobs.ServiceConfig)) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{queries: new(atomic.Int64), tokens: map[string]string{}}
	db.AddQueryHook(countHook{e.queries})
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	e.url = ts.URL
	var err error
	e.bucket, err = blob.Open(ctx, "mem://", blob.Options{SigningKey: bytes.Repeat([]byte("k"), 32), BaseURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	issue := authn == nil
	if issue {
		authn, err = auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32)})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.store, e.vault = jobs.NewStore(db, nil), jobstest.Vault(t)
	scfg := jobs.ServiceConfig{Providers: []string{"sim", "other"}, Logger: log,
		Files: e.bucket, Uploads: imgcheck.Limits{MaxBytes: cfg.MaxUploadBytes}}
	if edit != nil {
		edit(&scfg)
	}
	svc, err := jobs.NewService(e.store, e.vault, scfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	e.srv = server.New(svc, e.bucket, authn, cfg)
	mux.Handle("/", e.srv)
	if !issue {
		return e
	}
	for who, role := range map[string]jobs.Role{"alice": jobs.RoleUser, "bob": jobs.RoleUser, "rita": jobs.RoleReviewer, "ada": jobs.RoleAdmin} {
		e.tokens[who], err = authn.Issue(who, role, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

type countHook struct{ n *atomic.Int64 }

func (h countHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }
func (h countHook) AfterQuery(context.Context, *bun.QueryEvent)                        { h.n.Add(1) }

// gqlError is one entry of a GraphQL response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (g gqlError) code() string  { s, _ := g.Extensions["code"].(string); return s }
func (g gqlError) field() string { s, _ := g.Extensions["field"].(string); return s }

type response struct {
	status int
	Data   map[string]any `json:"data"`
	Errors []gqlError     `json:"errors"`
}

// do posts a GraphQL request as who ("" for no credentials).
func (e *env) do(t *testing.T, who, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.raw(t, who, "application/json", body)
}

func (e *env) raw(t *testing.T, who, contentType string, body []byte) response {
	t.Helper()
	return e.send(t, who, contentType, bytes.NewReader(body))
}

// send posts body to /graphql as who and decodes the JSON answer. A body
// whose length net/http cannot tell is sent chunked.
func (e *env) send(t *testing.T, who, contentType string, body io.Reader) response {
	t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/graphql", body)
	req.Header.Set("Content-Type", contentType)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r response
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	r.status = res.StatusCode
	return r
}

// ok fails the test if the response has errors.
func (r response) ok(t *testing.T) response {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %+v", r.Errors)
	}
	return r
}

// wantError checks the response has exactly one error with code (and field, when given).
func (r response) wantError(t *testing.T, code, field string) gqlError {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %+v, want one %s", r.Errors, code)
	}
	if got := r.Errors[0]; got.code() != code || (field != "" && got.field() != field) {
		t.Fatalf("error = %s (field %q): %q, want %s (field %q)", got.code(), got.field(), got.Message, code, field)
	}
	return r.Errors[0]
}

// get walks a path like "createVideoJob.job.id" through the data.
func (r response) get(path string) any {
	var v any = r.Data
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func (r response) str(path string) string { s, _ := r.get(path).(string); return s }

const createMutation = `mutation($in: CreateVideoJobInput!) {
  createVideoJob(input: $in) { created job { id status statusCopy version progress workflowType provider prompt durationSeconds aspectRatio resolution events { type newStatus source version } } }
}`

func (e *env) create(t *testing.T, who string, in map[string]any) response {
	t.Helper()
	if in["workflowType"] == nil {
		in["workflowType"] = "TEXT_TO_VIDEO"
	}
	return e.do(t, who, createMutation, map[string]any{"in": in})
}

func (e *env) createID(t *testing.T, who, prompt string) string {
	t.Helper()
	return e.create(t, who, map[string]any{"prompt": prompt}).ok(t).str("createVideoJob.job.id")
}

// complete moves a job to COMPLETED with a stored artifact, as the pipeline would.
func (e *env) complete(t *testing.T, id string) *jobs.Job {
	t.Helper()
	j, err := e.store.JobByPublicID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return jobstest.Complete(t, e.store, j.ID)
}

func countJobs(t *testing.T, s *jobs.Store) int {
	t.Helper()
	all, err := s.ListJobs(context.Background(), jobs.ListFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

func TestCreateAndQuery(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		r := e.create(t, "alice", map[string]any{"prompt": "a red fox in fresh snow", "durationSeconds": 8, "aspectRatio": "9:16"}).ok(t)
		if r.get("createVideoJob.created") != true {
			t.Errorf("created = %v, want true", r.get("createVideoJob.created"))
		}
		want := map[string]any{
			"status": "QUEUED", "statusCopy": "Waiting to start", "version": 1.0, "progress": 0.0,
			"workflowType": "TEXT_TO_VIDEO", "provider": "sim", "prompt": "a red fox in fresh snow",
			"durationSeconds": 8.0, "aspectRatio": "9:16", "resolution": "720p",
		}
		for k, v := range want {
			if got := r.get("createVideoJob.job." + k); got != v {
				t.Errorf("createVideoJob.job.%s = %v, want %v", k, got, v)
			}
		}
		evs, _ := r.get("createVideoJob.job.events").([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["type"] != "queued" || evs[0].(map[string]any)["source"] != "API" {
			t.Errorf("events = %v, want one queued event from the API", evs)
		}
		id := r.str("createVideoJob.job.id")
		q := e.do(t, "alice", `query($id: ID!) { job(id: $id) { id status version prompt error { code } nextStep } }`, map[string]any{"id": id}).ok(t)
		if q.str("job.id") != id || q.str("job.status") != "QUEUED" || q.get("job.nextStep") != nil {
			t.Errorf("job(%s) = %v, want the QUEUED job", id, q.Data)
		}
		v := e.do(t, "alice", `{ viewer { id role } }`, nil).ok(t)
		if v.str("viewer.id") != "alice" || v.str("viewer.role") != "USER" {
			t.Errorf("viewer = %v, want alice USER", v.Data)
		}
	})
}

func TestIdempotentCreate(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		in := func() map[string]any {
			return map[string]any{"prompt": "a lighthouse at dusk", "idempotencyKey": "order-42"}
		}
		first := e.create(t, "alice", in()).ok(t)
		again := e.create(t, "alice", in()).ok(t)
		if again.str("createVideoJob.job.id") != first.str("createVideoJob.job.id") || again.get("createVideoJob.created") != false {
			t.Errorf("repeated create = %v, want the same job with created=false", again.Data)
		}
		other := e.create(t, "bob", in()).ok(t)
		if other.str("createVideoJob.job.id") == first.str("createVideoJob.job.id") {
			t.Error("another owner's create with the same key returned alice's job")
		}
		changed := in()
		changed["prompt"] = "a lighthouse at dawn"
		e.create(t, "alice", changed).wantError(t, "CONFLICT", "input.idempotencyKey")
		if n := countJobs(t, e.store); n != 2 {
			t.Errorf("jobs stored = %d, want 2", n)
		}
	})
}

func TestPagination(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		var ids []string
		for i := range 5 {
			ids = append(ids, e.createID(t, "alice", fmt.Sprintf("shot %d", i)))
		}
		e.createID(t, "bob", "not alice's")
		const page = `query($after: String, $status: [JobStatus!]) { jobs(first: 2, after: $after, status: $status) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`
		var got []string
		var after any
		for range 10 {
			r := e.do(t, "alice", page, map[string]any{"after": after}).ok(t)
			for _, edge := range r.get("jobs.edges").([]any) {
				got = append(got, edge.(map[string]any)["node"].(map[string]any)["id"].(string))
			}
			if r.get("jobs.pageInfo.hasNextPage") != true {
				break
			}
			after = r.get("jobs.pageInfo.endCursor")
		}
		want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("pages = %v, want %v (newest first, alice's only)", got, want)
		}
		e.complete(t, ids[1])
		r := e.do(t, "alice", page, map[string]any{"status": []string{"COMPLETED"}}).ok(t)
		if edges := r.get("jobs.edges").([]any); len(edges) != 1 {
			t.Errorf("jobs(status: COMPLETED) = %d edges, want 1", len(edges))
		}
		e.do(t, "alice", page, map[string]any{"after": "bm90LWEtY3Vyc29y"}).wantError(t, "BAD_USER_INPUT", "after")
		e.do(t, "alice", `{ jobs(first: 0) { edges { cursor } } }`, nil).wantError(t, "BAD_USER_INPUT", "first")
		e.do(t, "alice", `{ jobs(first: 101) { edges { cursor } } }`, nil).wantError(t, "BAD_USER_INPUT", "first")
		e.do(t, "alice", page, map[string]any{"status": []string{"DONE"}}).wantError(t, "BAD_USER_INPUT", "status[0]")
	})
}

const (
	approve = `mutation($id: ID!, $note: String) { approveVideoJob(id: $id, note: $note) { id status statusCopy version reviewedAt reviews { decision reasons note reviewerId } } }`
	reject  = `mutation($id: ID!, $reasons: [RejectionReason!]!, $note: String) { rejectVideoJob(id: $id, reasons: $reasons, note: $note) { id status statusCopy reviews { decision reasons note reviewerId } events { type source } } }`
)

func TestReview(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		ok, bad, queued := e.createID(t, "alice", "one"), e.createID(t, "alice", "two"), e.createID(t, "alice", "three")
		e.complete(t, ok)
		e.complete(t, bad)

		r := e.do(t, "rita", approve, map[string]any{"id": ok, "note": "lovely"}).ok(t)
		if r.str("approveVideoJob.status") != "APPROVED" || r.str("approveVideoJob.statusCopy") != "Ready to use" || r.get("approveVideoJob.reviewedAt") == nil {
			t.Errorf("approveVideoJob = %v, want APPROVED with reviewedAt", r.Data)
		}
		revs := r.get("approveVideoJob.reviews").([]any)
		if len(revs) != 1 || revs[0].(map[string]any)["decision"] != "APPROVED" || revs[0].(map[string]any)["reviewerId"] != "rita" {
			t.Errorf("reviews = %v, want one APPROVED by rita", revs)
		}
		// A decided job cannot be decided again.
		e.do(t, "rita", approve, map[string]any{"id": ok}).wantError(t, "CONFLICT", "")

		e.do(t, "rita", reject, map[string]any{"id": bad, "reasons": []string{"OTHER"}}).wantError(t, "BAD_USER_INPUT", "note")
		e.do(t, "rita", reject, map[string]any{"id": bad, "reasons": []string{}}).wantError(t, "BAD_USER_INPUT", "reasons")
		r = e.do(t, "ada", reject, map[string]any{"id": bad, "reasons": []string{"LABEL_UNREADABLE", "OTHER"}, "note": "logo warps"}).ok(t)
		if r.str("rejectVideoJob.status") != "REJECTED" || r.str("rejectVideoJob.statusCopy") != "Needs changes" {
			t.Errorf("rejectVideoJob = %v, want REJECTED", r.Data)
		}
		rv := r.get("rejectVideoJob.reviews").([]any)[0].(map[string]any)
		if fmt.Sprint(rv["reasons"]) != "[LABEL_UNREADABLE OTHER]" || rv["note"] != "logo warps" {
			t.Errorf("review = %v, want both reasons and the note", rv)
		}
		evs := r.get("rejectVideoJob.events").([]any)
		if last := evs[len(evs)-1].(map[string]any); last["type"] != "rejected" || last["source"] != "REVIEWER" {
			t.Errorf("last event = %v, want rejected by REVIEWER", last)
		}

		// Only COMPLETED jobs are reviewed; the error names the status to
		// those who may read the job, and is NOT_FOUND to a reviewer who may
		// not (it is not in review).
		e.complete(t, queued) // a fresh one, to check admins may also act on jobs under review
		fresh := e.createID(t, "alice", "four")
		if got := e.do(t, "ada", approve, map[string]any{"id": fresh}).wantError(t, "CONFLICT", ""); !strings.Contains(got.Message, "QUEUED") {
			t.Errorf("ada: conflict message %q does not name the status QUEUED", got.Message)
		}
		if got := e.do(t, "rita", approve, map[string]any{"id": fresh}).wantError(t, "NOT_FOUND", ""); strings.Contains(got.Message, "QUEUED") {
			t.Errorf("rita: %q names the status of a job outside review", got.Message)
		}
		e.do(t, "rita", approve, map[string]any{"id": "00000000-0000-4000-8000-000000000000"}).wantError(t, "NOT_FOUND", "")
		// Users do not review.
		e.do(t, "alice", approve, map[string]any{"id": queued}).wantError(t, "FORBIDDEN", "")
	})
}

func TestCrossOwnerAccess(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		id := e.createID(t, "alice", "secret campaign for ACME")
		const get = `query($id: ID!) { job(id: $id) { id prompt } }`
		r := e.do(t, "bob", get, map[string]any{"id": id})
		r.wantError(t, "NOT_FOUND", "")
		if r.get("job") != nil {
			t.Errorf("bob read alice's job: %v", r.Data)
		}
		const missingID = "00000000-0000-4000-8000-000000000000"
		missing := e.do(t, "bob", get, map[string]any{"id": missingID}).wantError(t, "NOT_FOUND", "")
		// The same answer, but for the id it names: nothing tells them apart.
		if a, b := strings.ReplaceAll(r.Errors[0].Message, id, "ID"), strings.ReplaceAll(missing.Message, missingID, "ID"); a != b || fmt.Sprint(r.Errors[0].Extensions) != fmt.Sprint(missing.Extensions) {
			t.Errorf("another owner's job and a missing job read differently: %q %v vs %q %v", r.Errors[0].Message, r.Errors[0].Extensions, missing.Message, missing.Extensions)
		}
		if edges := e.do(t, "bob", `{ jobs { edges { node { id } } } }`, nil).ok(t).get("jobs.edges").([]any); len(edges) != 0 {
			t.Errorf("bob's jobs = %v, want none", edges)
		}
		// Reviewers see jobs only once they reach review; then the prompt
		// too (each read audited: server.TestAuthorizationMatrix).
		e.do(t, "rita", get, map[string]any{"id": id}).wantError(t, "NOT_FOUND", "")
		e.complete(t, id)
		r = e.do(t, "rita", get, map[string]any{"id": id}).ok(t)
		if r.str("job.id") != id || r.str("job.prompt") != "secret campaign for ACME" {
			t.Errorf("reviewer job(%s) = %v, want the job in review with its prompt", id, r.Data)
		}
		// Admins see everything, prompts included.
		if r := e.do(t, "ada", get, map[string]any{"id": id}).ok(t); r.str("job.prompt") != "secret campaign for ACME" {
			t.Errorf("admin job(%s).prompt = %v, want the prompt", id, r.get("job.prompt"))
		}
		// Bob cannot review or learn about alice's job through a mutation either.
		e.do(t, "bob", approve, map[string]any{"id": id}).wantError(t, "FORBIDDEN", "")
		// Reviewers do not create jobs.
		e.create(t, "rita", map[string]any{"prompt": "x"}).wantError(t, "FORBIDDEN", "")
	})
}

func TestCreateBadInput(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		tests := []struct {
			name  string
			in    map[string]any
			field string
		}{
			{"unknown workflow", map[string]any{"workflowType": "TEXT_TO_AUDIO", "prompt": "x"}, "in.workflowType"},
			{"empty prompt", map[string]any{"prompt": ""}, "input.prompt"},
			{"blank prompt", map[string]any{"prompt": " \n\t "}, "input.prompt"},
			{"prompt too long", map[string]any{"prompt": strings.Repeat("é", jobs.MaxPromptLength+1)}, "input.prompt"},
			{"control characters", map[string]any{"prompt": "a\x00b"}, "input.prompt"},
			{"image without asset", map[string]any{"workflowType": "IMAGE_TO_VIDEO", "prompt": "x"}, "input.sourceAssetId"},
			{"text with asset", map[string]any{"prompt": "x", "sourceAssetId": "00000000-0000-4000-8000-000000000000"}, "input.sourceAssetId"},
			{"unknown provider", map[string]any{"prompt": "x", "provider": "acme"}, "input.provider"},
			{"duration too short", map[string]any{"prompt": "x", "durationSeconds": 0}, "input.durationSeconds"},
			{"duration too long", map[string]any{"prompt": "x", "durationSeconds": 31}, "input.durationSeconds"},
			{"duration not a number", map[string]any{"prompt": "x", "durationSeconds": "five"}, "in.durationSeconds"},
			{"aspect ratio", map[string]any{"prompt": "x", "aspectRatio": "2:1"}, "input.aspectRatio"},
			{"resolution", map[string]any{"prompt": "x", "resolution": "8k"}, "input.resolution"},
			{"idempotency key with spaces", map[string]any{"prompt": "x", "idempotencyKey": "a b"}, "input.idempotencyKey"},
			{"idempotency key too long", map[string]any{"prompt": "x", "idempotencyKey": strings.Repeat("k", 129)}, "input.idempotencyKey"},
			{"missing prompt", map[string]any{}, "in.prompt"},
		}
		for _, tt := range tests {
			r := e.create(t, "alice", tt.in)
			if len(r.Errors) != 1 || r.Errors[0].code() != "BAD_USER_INPUT" || r.Errors[0].field() != tt.field {
				t.Errorf("%s: errors = %+v, want BAD_USER_INPUT on %s", tt.name, r.Errors, tt.field)
				continue
			}
			if msg := r.Errors[0].Message; tt.field == "input.provider" && !strings.Contains(msg, "sim, other") {
				t.Errorf("%s: message %q does not list the available providers", tt.name, msg)
			}
		}
		if n := countJobs(t, e.store); n != 0 {
			t.Errorf("bad input stored %d jobs, want 0", n)
		}
	})
}

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t))
	post := func(who, body string) response { return e.raw(t, who, "application/json", []byte(body)) }

	r := post("alice", `{"query": "{ viewer { id } ",`)
	if r.wantError(t, "BAD_REQUEST", ""); r.status != http.StatusBadRequest {
		t.Errorf("malformed JSON status = %d, want 400", r.status)
	}
	if msg := r.Errors[0].Message; strings.Contains(msg, "viewer") {
		t.Errorf("malformed JSON error echoes the body: %q", msg)
	}
	post("alice", `{"query": "query A { viewer { id } }", "operationName": "B"}`).wantError(t, "GRAPHQL_VALIDATION_FAILED", "")
	post("alice", `{"query": "{ viewer { id } "}`).wantError(t, "GRAPHQL_PARSE_FAILED", "")
	post("alice", `{"query": "{ nosuchfield }"}`).wantError(t, "GRAPHQL_VALIDATION_FAILED", "")

	deep := `{ jobs { edges { node { events { type } reviews { note } artifacts { id } } } } }`
	if r := post("alice", `{"query": "`+deep+`"}`); len(r.Errors) > 0 {
		t.Errorf("an ordinary query was refused: %+v", r.Errors)
	}
	nested := "{ viewer { id } ...F } fragment F on Query { jobs { edges { node { events { type } } } } }"
	if r := post("alice", mustJSON(map[string]any{"query": nested})); len(r.Errors) > 0 {
		t.Errorf("a fragment query was refused: %+v", r.Errors)
	}
	page := `jobs(first: 100) { edges { node { id status events { type version source } artifacts { id sizeBytes width height } reviews { note } } } }`
	complex := "{ a: " + page + " b: " + page + " c: " + page + " d: " + page + " }"
	r = post("alice", mustJSON(map[string]any{"query": complex}))
	if r.wantError(t, "COMPLEXITY_LIMIT_EXCEEDED", ""); r.status != http.StatusOK {
		t.Errorf("complexity status = %d, want 200 (a request error under application/json)", r.status)
	}

	big := mustJSON(map[string]any{"query": "{ viewer { id } }", "variables": map[string]any{"pad": strings.Repeat("x", 70<<10)}})
	r = post("alice", big)
	if r.wantError(t, "PAYLOAD_TOO_LARGE", ""); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body status = %d, want 413", r.status)
	}

	r = post("", `{"query": "{ viewer { id } }"}`)
	if r.wantError(t, "UNAUTHENTICATED", ""); r.status != http.StatusUnauthorized {
		t.Errorf("no credentials status = %d, want 401", r.status)
	}
	req, _ := http.NewRequest("POST", e.url+"/graphql", strings.NewReader(`{"query":"{ viewer { id } }"}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens["alice"]+"x")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged token status = %d, want 401", res.StatusCode)
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404, "/": 200} {
		res, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxDepth: 4})
	// Fields count; fragments, inline or named, add no depth.
	if r := e.do(t, "alice", "{ jobs { edges { node { ... on VideoJob { ... on VideoJob { id } } } } } }", nil); len(r.Errors) > 0 {
		t.Fatalf("depth-4 query refused: %+v", r.Errors)
	}
	for _, q := range []string{
		"{ jobs { edges { node { events { type } } } } }",
		"{ ...F } fragment F on Query { jobs { edges { node { reviews { note } } } } }",
	} {
		r := e.do(t, "alice", q, nil)
		if got := r.wantError(t, "DEPTH_LIMIT_EXCEEDED", ""); r.status != http.StatusOK || !strings.Contains(got.Message, "5 levels") {
			t.Errorf("depth-5 query: status %d, %q, want 200 naming 5 levels", r.status, got.Message)
		}
	}
}

func TestArtifactDownload(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		id := e.createID(t, "alice", "a paper boat")
		job := e.complete(t, id)
		arts, err := e.store.ArtifactsOf(context.Background(), []int64{job.ID})
		if err != nil {
			t.Fatal(err)
		}
		video := []byte("\x00\x00\x00\x18ftypisom-not-really-a-video")
		if _, err := e.bucket.Put(context.Background(), arts[job.ID][0].StorageKey, bytes.NewReader(video), 1<<20); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "alice", `query($id: ID!) { job(id: $id) { status artifacts { kind mimeType sizeBytes width height durationSeconds downloadUrl } } }`, map[string]any{"id": id}).ok(t)
		a := r.get("job.artifacts").([]any)[0].(map[string]any)
		if a["kind"] != "VIDEO" || a["mimeType"] != "video/mp4" || a["width"] != 1280.0 || a["height"] != 720.0 {
			t.Errorf("artifact = %v, want the stored video's metadata", a)
		}
		res, err := http.Get(a["downloadUrl"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Equal(got, video) {
			t.Errorf("GET downloadUrl = %d, %q, want 200 and the stored bytes", res.StatusCode, got)
		}
		res, err = http.Get(strings.Replace(a["downloadUrl"].(string), "sig=", "sig=x", 1))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("GET tampered downloadUrl = %d, want 403", res.StatusCode)
		}
	})
}

// The children of a page of jobs load in one query per kind, however many
// jobs the page holds.
func TestDataloadersBatch(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t))
	queriesFor := func(n int) int64 {
		for range n {
			e.complete(t, e.createID(t, "ada", "x"))
		}
		before := e.queries.Load()
		r := e.do(t, "ada", `{ jobs(first: 50) { edges { node { id events { type } artifacts { id } reviews { note } } } } }`, nil).ok(t)
		if got := len(r.get("jobs.edges").([]any)); got == 0 {
			t.Fatal("no jobs listed")
		}
		return e.queries.Load() - before
	}
	// One query for the page and one per kind of child; a batch window that
	// closes early on a busy machine may split a kind in two, so allow some
	// slack — loading per job would cost 66 queries here.
	few, many := queriesFor(2), queriesFor(20)
	if many > 8 {
		t.Errorf("queries for a page of 2 jobs = %d, of 22 jobs = %d; want a small number independent of the page size", few, many)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
