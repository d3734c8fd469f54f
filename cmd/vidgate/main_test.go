package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/vidgate/vidgate/server/auth"

	"github.com/vidgate/vidgate/jobs/jobstest"
)

// syncBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // if set, closed by the next Write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// next returns a channel closed by the next Write.
func (s *syncBuffer) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = make(chan struct{})
	}
	return s.written
}

// waitFor waits until cond holds for what has been written, checking it
// after every Write, and reports whether it did within d.
func (s *syncBuffer) waitFor(d time.Duration, cond func(string) bool) bool {
	timeout := time.After(d)
	for {
		written := s.next()
		if cond(s.String()) {
			return true
		}
		select {
		case <-written:
		case <-timeout:
			return false
		}
	}
}

// startVidgate runs `vidgate args…` in-process until the test ends and
// returns its base URL and stdout.
func startVidgate(t *testing.T, args ...string) (base string, stdout *syncBuffer, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vidgate exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("vidgate did not stop within 20s of its context ending")
		}
	})
	addr := regexp.MustCompile(`"addr":"([^"]+)"`)
	timeout := time.After(20 * time.Second)
	for {
		written := stderr.next()
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			return "http://" + m[1], stdout, stderr
		}
		select {
		case <-written:
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("vidgate exited early: %v\n%s", err, stderr.String())
		case <-timeout:
			t.Fatalf("vidgate did not start:\n%s", stderr.String())
		}
	}
}

func graphql(t *testing.T, base, token, query string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest("POST", base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The embedded default starts with no configuration, prints working tokens,
// and keeps its data (and secrets) across restarts.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	base, stdout, _ := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	tokens := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindAllStringSubmatch(stdout.String(), -1)
	if len(tokens) != 2 || !strings.Contains(stdout.String(), base+"/graphql") {
		t.Fatalf("banner = %q, want the API URL and two tokens", stdout.String())
	}
	if !strings.Contains(stdout.String(), "Simulated provider  on") {
		t.Errorf("banner = %q, want it to say the simulated provider is on", stdout.String())
	}
	user, reviewer := tokens[0][1], tokens[1][1]
	out := graphql(t, base, user, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a kite over dunes"}) { job { id status } } }`)
	job, _ := out["data"].(map[string]any)["createVideoJob"].(map[string]any)["job"].(map[string]any)
	if job["status"] != "QUEUED" {
		t.Fatalf("createVideoJob = %v, want QUEUED", out)
	}
	if v := graphql(t, base, reviewer, `{ viewer { role } }`); !strings.Contains(jsonString(v), `"REVIEWER"`) {
		t.Errorf("reviewer token viewer = %v", v)
	}
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", path, res.StatusCode)
		}
	}
	for _, f := range []string{"vidgate.db", "secrets.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("data dir lacks %s: %v", f, err)
		}
	}
	if info, _ := os.Stat(filepath.Join(dir, "secrets.json")); info != nil && info.Mode().Perm() != 0o600 {
		t.Errorf("secrets.json mode = %v, want 0600", info.Mode().Perm())
	}
	// Metrics: not for everyone; for an admin's token.
	if res, err := http.Get(base + "/metrics"); err != nil || res.StatusCode != 401 {
		t.Errorf("GET /metrics without a token = %v, %v, want 401", res.StatusCode, err)
	}
	var admin bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "ops", "--role", "admin", "--data-dir", dir}, &admin, io.Discard); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(admin.String()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`vidgate_jobs_created_total{provider="sim",workflow="text_to_video"} 1`, `vidgate_queue_length{kind="submit"}`,
		`vidgate_websocket_connections 0`, `vidgate_jobs_stuck{status="QUEUED"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// `vidgate token` signs with the same secret.
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "alice", "--data-dir", dir}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	out = graphql(t, base, strings.TrimSpace(tok.String()), `{ jobs { edges { node { id } } } }`)
	if !strings.Contains(jsonString(out), job["id"].(string)) {
		t.Errorf("a token from `vidgate token` does not list alice's job: %v", out)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// `serve` needs its settings spelled out and a migrated database; `migrate`
// makes it so.
func TestServeAndMigrate(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard)
	for _, want := range []string{"--database-url", "--bucket-url", "--redis-url", "--jwt-secret", "--prompt-keys", "--sim-webhook-secret"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve with no settings: error %v, want it to name %s", err, want)
		}
	}
	dbURL := "sqlite:" + filepath.Join(dir, "served.db")
	if os.Getenv(jobstest.EnvDatabaseURL) != "" {
		dbURL = jobstest.PostgresURL(t)
	}
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	t.Setenv("VIDGATE_DATABASE_URL", dbURL)
	t.Setenv("VIDGATE_BUCKET_URL", "file://"+filepath.Join(dir, "bucket"))
	t.Setenv("VIDGATE_JWT_SECRET", strings.Repeat("j", 32))
	t.Setenv("VIDGATE_PROMPT_KEYS", "k1:"+key)
	t.Setenv("VIDGATE_PROMPT_HASH_KEY", key)
	t.Setenv("VIDGATE_URL_SIGNING_KEY", key)
	t.Setenv("VIDGATE_REDIS_URL", testRedisURL(t))
	t.Setenv("VIDGATE_REDIS_PREFIX", "vgtest-"+strings.ReplaceAll(t.Name(), "/", "-"))
	t.Setenv("VIDGATE_SIM_WEBHOOK_SECRET", "whsec_"+key)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, &out, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Errorf("second migrate = %q, %v, want up to date", out.String(), err)
	}
	// The simulated provider is off unless asked for: with no real
	// provider either, serve refuses to start and says how to fix it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // should it serve after all
	defer cancel()
	if err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--enable-sim") {
		t.Errorf("serve with no provider = %v, want an error naming --enable-sim", err)
	}
	t.Setenv("VIDGATE_REPLICATE_API_KEY", "r8_test_key")
	t.Setenv("VIDGATE_REPLICATE_BASE_URL", "http://127.0.0.1:1/v1") // nothing listens: stays on this machine
	base, _, _ := startVidgate(t, "serve", "--addr", "127.0.0.1:0")
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "carol", "--role", "admin"}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	created := graphql(t, base, strings.TrimSpace(tok.String()), `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "p [sim output_size=16GiB]", provider: "sim"}) { job { id } } }`)
	if s := jsonString(created); !strings.Contains(s, "BAD_USER_INPUT") || !strings.Contains(s, "available: replicate") || strings.Contains(s, "replicate, sim") {
		t.Errorf("createVideoJob(provider: sim) without --enable-sim = %s, want BAD_USER_INPUT naming only replicate", s)
	}
	if res, err := http.Get(base + "/sim/v1/generations/x"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /sim/… without --enable-sim = %v, %v, want 404", res.StatusCode, err)
	}
	if v := graphql(t, base, strings.TrimSpace(tok.String()), `{ viewer { id role } }`); !strings.Contains(jsonString(v), `"ADMIN"`) {
		t.Errorf("viewer = %v, want carol ADMIN", v)
	}
}

func TestServeRefusesUnmigratedDatabase(t *testing.T) {
	dir := t.TempDir()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0",
		"--database-url", "sqlite:" + filepath.Join(dir, "new.db"), "--bucket-url", "file://" + dir,
		"--jwt-secret", strings.Repeat("j", 32), "--prompt-keys", "k1:" + key, "--prompt-hash-key", key, "--url-signing-key", key,
		"--redis-url", "redis://127.0.0.1:1/0", "--sim-webhook-secret", "whsec_" + key,
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "vidgate migrate") {
		t.Errorf("serve on an unmigrated database: %v, want an error saying to run vidgate migrate", err)
	}
}

func TestHelpListsEnvironment(t *testing.T) {
	var help bytes.Buffer
	err := run(context.Background(), []string{"run", "--help"}, io.Discard, &help)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help error = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"$VIDGATE_DATABASE_URL", "$VIDGATE_JWT_SECRET", "--data-dir", "$VIDGATE_ADDR"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
	if err := run(context.Background(), []string{"bogus"}, io.Discard, io.Discard); err == nil {
		t.Error("an unknown command did not fail")
	}
}

// testRedisURL is the real Redis when VIDGATE_TEST_REDIS_URL is set, else an
// in-process one for the test.
func testRedisURL(t *testing.T) string {
	if u := os.Getenv("VIDGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("VIDGATE_TEST_REDIS_URL is not set: CI must run against Redis")
	}
	return "redis://" + miniredis.RunT(t).Addr() + "/0"
}

func TestConcurrencyFlag(t *testing.T) {
	tests := []struct {
		in      string
		submit  int
		ingest  int
		wantErr bool
	}{
		{"", 8, 8, false},
		{"3", 3, 3, false},
		{"submit=16,ingest=2", 16, 2, false},
		{"ingest=0", 8, -1, false},
		{"0", 0, 0, true},
		{"render=2", 0, 0, true},
		{"submit=x", 0, 0, true},
	}
	for _, tt := range tests {
		c := config{Concurrency: tt.in}
		got, err := c.concurrency()
		if (err != nil) != tt.wantErr {
			t.Errorf("concurrency(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (got["submit"] != tt.submit || got["ingest"] != tt.ingest) {
			t.Errorf("concurrency(%q) = %v, want submit %d ingest %d", tt.in, got, tt.submit, tt.ingest)
		}
	}
}

// `vidgate sim` serves the simulated provider's API on its own.
func TestSimCommand(t *testing.T) {
	base, _, _ := startVidgate(t, "sim", "--addr", "127.0.0.1:0", "--sim-api-key", "k", "--sim-webhook-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	for key, want := range map[string]int{"": 401, "k": 404} {
		req, _ := http.NewRequest("GET", base+"/v1/generations/gen_nope", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET unknown generation with key %q = %d, want %d", key, res.StatusCode, want)
		}
	}
}

// A real provider is offered once its API key is set; jobs may name it, and
// an unknown name lists what is offered.
func TestConfiguredProviders(t *testing.T) {
	t.Setenv("VIDGATE_REPLICATE_API_KEY", "r8_test_key")
	t.Setenv("VIDGATE_REPLICATE_BASE_URL", "http://127.0.0.1:1/v1") // nothing listens: stays on this machine
	base, stdout, _ := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	token := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindStringSubmatch(stdout.String())[1]
	out := graphql(t, base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "p", provider: "replicate"}) { job { provider events { message } } } }`)
	if s := jsonString(out); !strings.Contains(s, `"provider":"replicate"`) || !strings.Contains(s, "requested") {
		t.Errorf("createVideoJob(provider: replicate) = %s, want a replicate job whose first event says it was requested", s)
	}
	out = graphql(t, base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "p", provider: "acme"}) { job { id } } }`)
	if s := jsonString(out); !strings.Contains(s, "BAD_USER_INPUT") || !strings.Contains(s, "replicate, sim") {
		t.Errorf("createVideoJob(provider: acme) = %s, want BAD_USER_INPUT listing replicate, sim", s)
	}
}

// Every setting can come from a file named by <VARIABLE>_FILE.
func TestSettingsFromFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "jwt")
	if err := os.WriteFile(secret, []byte(strings.Repeat("f", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIDGATE_JWT_SECRET_FILE", secret)
	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "--sub", "zed", "--data-dir", dir}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{HS256Secret: []byte(strings.Repeat("f", 40))})
	if err != nil {
		t.Fatal(err)
	}
	if actor, err := a.Authenticate(context.Background(), strings.TrimSpace(tok.String())); err != nil || actor.Subject != "zed" {
		t.Errorf("a token signed with the secret from the file: %+v, %v", actor, err)
	}
	t.Setenv("VIDGATE_JWT_SECRET", "also-set")
	if err := run(context.Background(), []string{"token", "--sub", "zed"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("variable and file both set: %v, want an error", err)
	}
}

// A partner app's API key: made once, works as a bearer token or
// X-API-Key, shows in the list, and stops working when revoked.
func TestAPIKeys(t *testing.T) {
	dir := t.TempDir()
	base, _, _ := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	var key bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--owner", "partner-7", "--name", "shop", "--data-dir", dir}, &key, io.Discard); err != nil {
		t.Fatal(err)
	}
	k := strings.TrimSpace(key.String())
	if !strings.HasPrefix(k, "vg_") {
		t.Fatalf("key = %q, want vg_…", k)
	}
	if v := graphql(t, base, k, `{ viewer { id role } }`); !strings.Contains(jsonString(v), `"partner-7"`) {
		t.Errorf("viewer with the key as bearer = %v", v)
	}
	req, _ := http.NewRequest("POST", base+"/graphql", strings.NewReader(`{"query":"{ viewer { id } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", k)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("X-API-Key request = %d, want 200", res.StatusCode)
	}
	var list bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "list", "--data-dir", dir}, &list, io.Discard); err != nil || !strings.Contains(list.String(), "partner-7") || strings.Contains(list.String(), k) {
		t.Errorf("apikey list = %q, %v: want the key's owner, never the key", list.String(), err)
	}
	prefix := strings.SplitN(strings.TrimPrefix(k, "vg_"), "_", 2)[0]
	if err := run(context.Background(), []string{"apikey", "revoke", "--data-dir", dir, prefix}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if v := graphql(t, base, k, `{ viewer { id } }`); !strings.Contains(jsonString(v), "UNAUTHENTICATED") {
		t.Errorf("a revoked key = %v, want UNAUTHENTICATED", v)
	}
	if v := graphql(t, base, "vg_nope_nope", `{ viewer { id } }`); !strings.Contains(jsonString(v), "UNAUTHENTICATED") {
		t.Errorf("an unknown key = %v, want UNAUTHENTICATED", v)
	}
}

// --clamd-addr is a worker setting ($VIDGATE_CLAMD_ADDR), checked at
// start-up: a malformed address is refused before anything runs.
func TestClamdAddrFlag(t *testing.T) {
	var help bytes.Buffer
	if err := run(context.Background(), []string{"worker", "--help"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("worker --help error = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(help.String(), "--clamd-addr") || !strings.Contains(help.String(), "$VIDGATE_CLAMD_ADDR") {
		t.Errorf("worker --help lacks --clamd-addr / $VIDGATE_CLAMD_ADDR")
	}
	for addr, ok := range map[string]bool{"": true, "127.0.0.1:3310": true, "unix:/run/clamav/clamd.sock": true, "clamd": false} {
		c := config{Concurrency: "8", ClamdAddr: addr}
		err := c.check(roleWorker)
		if got := err == nil || !strings.Contains(err.Error(), "--clamd-addr"); got != ok {
			t.Errorf("check with --clamd-addr %q: %v; want accepted %v", addr, err, ok)
		}
	}
}
