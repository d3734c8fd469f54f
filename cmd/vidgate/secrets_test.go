package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// testSecrets are the values of every secret setting, each holding a
// marker so that a leak of any of them is easy to find.
type testSecrets map[string]string

func newTestSecrets() testSecrets {
	key := func(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
	return testSecrets{
		"jwt-secret":         "jwt-SECRET-0123456789abcdefghijklmnop",
		"prompt-keys":        "k1:" + key(0xa1),
		"prompt-hash-key":    key(0xb2),
		"url-signing-key":    key(0xc3), // supplied as a _FILE
		"sim-api-key":        "sim-SECRET-api-key-4242",
		"sim-webhook-secret": "whsec_" + key(0xd4),
		"metrics-token":      "metrics-SECRET-token-9797", // supplied as a flag
		"REPLICATE_API_KEY":  "r8_SECRETreplicatekey31337",
		"VEO_API_KEY":        "AIzaSECRETveokey27182818",
	}
}

// setEnv supplies the secrets as the operator would: VIDGATE_* variables,
// one from a file named by VIDGATE_*_FILE; the metrics token is left for
// a flag.
func (s testSecrets) setEnv(t *testing.T) {
	t.Helper()
	for name, v := range s {
		switch name {
		case "metrics-token":
			continue
		case "url-signing-key":
			f := filepath.Join(t.TempDir(), "url-signing-key")
			if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(envName(name)+"_FILE", f)
			continue
		}
		if strings.ToUpper(name) == name {
			t.Setenv("VIDGATE_"+name, v)
		} else {
			t.Setenv(envName(name), v)
		}
	}
}

// leaks names the secrets (and other values that must stay out) found in
// text. A secret counts as found when its distinctive part is: a key's
// base64, a whsec_ secret's base64.
func leaks(text string, secrets map[string]string) []string {
	var found []string
	for name, v := range secrets {
		needles := []string{v}
		if _, after, ok := strings.Cut(v, ":"); ok && name == "prompt-keys" {
			needles = append(needles, after)
		}
		if after, ok := strings.CutPrefix(v, "whsec_"); ok {
			needles = append(needles, after)
		}
		for _, n := range needles {
			if strings.Contains(text, n) {
				found = append(found, name)
				break
			}
		}
	}
	return found
}

// `--help` never prints a secret: not one set in the environment, from a
// file, nor one given on the command line before --help.
func TestHelpNeverPrintsSecrets(t *testing.T) {
	s := newTestSecrets()
	s.setEnv(t)
	commands := [][]string{
		{"run", "--help"}, {"serve", "--help"}, {"worker", "--help"}, {"migrate", "--help"},
		{"keys", "rotate", "--help"}, {"apikey", "create", "--help"}, {"apikey", "list", "--help"},
		{"token", "--help"}, {"sim", "--help"}, {"jobs", "stuck", "--help"}, {"dlq", "list", "--help"},
		{"serve", "--jwt-secret", s["jwt-secret"], "--metrics-token", s["metrics-token"], "--prompt-keys", s["prompt-keys"], "--help"},
		{"--sim-api-key", s["sim-api-key"], "--sim-webhook-secret", s["sim-webhook-secret"], "--help"},
		{"keys", "rotate", "--prompt-keys", s["prompt-keys"], "--help"},
		{"token", "--jwt-secret", s["jwt-secret"], "--help"},
	}
	for _, args := range commands {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("vidgate %s: error %v, want flag.ErrHelp", args[0], err)
		}
		if !strings.Contains(out.String(), "$VIDGATE_") {
			t.Errorf("vidgate %s printed no flag help: %q", strings.Join(args[:1], " "), out.String())
		}
		if found := leaks(out.String(), s); len(found) > 0 {
			t.Errorf("vidgate %s --help prints the secrets %v", args[0], found)
		}
	}
}

// Nothing vidgate logs holds a secret, nor a credential a client sent, nor
// a signed URL's signature, nor a query string — through startup, a job run
// end to end and downloaded, providers whose calls fail, refused
// credentials and metrics scrapes, at debug level.
func TestLogsNeverHoldSecrets(t *testing.T) {
	s := newTestSecrets()
	s.setEnv(t)
	// Real providers that cannot be reached: their errors get logged.
	t.Setenv("VIDGATE_REPLICATE_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("VIDGATE_VEO_BASE_URL", "http://127.0.0.1:1")
	base, stdout, stderr := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "debug",
		"--sim-latency", "300ms", "--metrics-token", s["metrics-token"], "--max-attempts", "2")
	m := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("banner = %q, want a token", stdout.String())
	}
	token := m[1]
	must := map[string]string{"the client's token": token}

	id := func(out map[string]any) string {
		job, _ := out["data"].(map[string]any)["createVideoJob"].(map[string]any)["job"].(map[string]any)
		s, _ := job["id"].(string)
		if s == "" {
			t.Fatalf("createVideoJob = %v", out)
		}
		return s
	}
	simJob := id(graphql(t, base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a kite"}) { job { id } } }`))
	for _, p := range []string{"replicate", "veo"} {
		id(graphql(t, base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a kite", provider: "`+p+`"}) { job { id } } }`))
	}
	waitStatus(t, base, token, simJob, "COMPLETED", 30*time.Second)
	var url string
	out := jsonString(graphql(t, base, token, `{ job(id: "`+simJob+`") { status artifacts { downloadUrl } } }`))
	if m := regexp.MustCompile(`"downloadUrl":"([^"]+)"`).FindStringSubmatch(out); m != nil {
		url = strings.ReplaceAll(m[1], `\u0026`, "&")
	}
	if url == "" {
		t.Fatalf("the completed sim job has no download URL: %s", out)
	}
	sig := regexp.MustCompile(`[?&]sig=([^&]+)`).FindStringSubmatch(url)
	if sig == nil {
		t.Fatalf("download URL %q has no sig", url)
	}
	must["the download URL's signature"] = sig[1]
	get := func(u string, header ...string) int {
		req, _ := http.NewRequest("GET", u, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(url); code != 200 {
		t.Errorf("GET download URL = %d, want 200", code)
	}
	if code := get(base+"/metrics", "Authorization", "Bearer "+s["metrics-token"]); code != 200 {
		t.Errorf("GET /metrics with the metrics token = %d, want 200", code)
	}
	refused := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.REFUSED-signature-value"
	must["a refused token"] = refused
	if code := get(base+"/graphql?query=%7Bviewer%7Bid%7D%7D", "Authorization", "Bearer "+refused); code != 401 {
		t.Errorf("GET /graphql with a forged token = %d, want 401", code)
	}
	must["a query string"] = "QUERYSTRING-SECRET-5150"
	get(base + "/graphql?query=%7Bviewer%7Bid%7D%7D&access_token=QUERYSTRING-SECRET-5150")
	must["an unknown API key"] = "vg_UNKNOWNKEYSECRET_0000000000000000"
	get(base+"/graphql?query=%7Bviewer%7Bid%7D%7D", "X-API-Key", must["an unknown API key"])
	// The real providers' submits have failed (connection refused) by now.
	stderr.waitFor(15*time.Second, func(l string) bool {
		return strings.Contains(l, "veo submit") && strings.Contains(l, "replicate submit")
	}) // checked below

	logs := stderr.String()
	for _, want := range []string{`"route":"/graphql","status":401`, `"path":"/metrics"`, `"path":"/files/`, `"path":"/webhooks/sim"`, `"path":"/sim/v1/generations"`, "replicate submit", "veo submit"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s: the test did not exercise what it means to", want)
		}
	}
	// A request's line holds what README says, and nothing else: no body,
	// no query string, no header.
	requestFields := map[string]bool{"time": true, "level": true, "msg": true, "method": true, "path": true,
		"status": true, "bytes": true, "duration_ms": true, "request_id": true, "route": true, "client_ip": true,
		"operation": true, "operation_type": true, "graphql_errors": true}
	requests := 0
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "http request" {
			continue
		}
		requests++
		for k := range rec {
			if !requestFields[k] {
				t.Errorf("a request log line holds %q: %s", k, line)
			}
		}
		for _, k := range []string{"method", "path", "status", "duration_ms", "request_id"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("a request log line lacks %q: %s", k, line)
			}
		}
		if p, _ := rec["path"].(string); strings.ContainsAny(p, "?&") {
			t.Errorf("a request log line's path holds a query: %s", line)
		}
	}
	if requests < 5 {
		t.Errorf("%d request log lines, want one per request", requests)
	}
	if found := leaks(logs, s); len(found) > 0 {
		t.Errorf("the logs hold the secrets %v", found)
	}
	if found := leaks(logs, must); len(found) > 0 {
		t.Errorf("the logs hold %v", found)
	}
}

// Passwords inside --database-url and --redis-url stay out of what vidgate
// prints when it cannot connect: the URL is shown with the password hidden.
func TestConnectionPasswordsNeverPrinted(t *testing.T) {
	s := newTestSecrets()
	s.setEnv(t)
	const dbPass, redisPass = "db-pw-7f3kq9", "redis-pw-2m8xv4"
	dbURL := "sqlite:" + t.TempDir() + "/v.db"
	if err := run(t.Context(), []string{"migrate", "--database-url", dbURL}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"database", []string{"migrate", "--database-url", "postgres://vidgate:" + dbPass + "@127.0.0.1:1/vidgate?sslmode=disable"}},
		{"redis", []string{"worker", "--database-url", dbURL, "--bucket-url", "mem://",
			"--redis-url", "redis://:" + redisPass + "@127.0.0.1:1/0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := run(ctx, tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("run() = nil, want a connection error")
			}
			t.Logf("run() = %v", err)
			all := err.Error() + stdout.String() + stderr.String()
			if !strings.Contains(all, "127.0.0.1:1") {
				t.Fatalf("the error is not about connecting to 127.0.0.1:1: %v", err)
			}
			if strings.Contains(all, dbPass) || strings.Contains(all, redisPass) {
				t.Errorf("output holds a password:\n%s", all)
			}
		})
	}
}

// waitStatus follows the job over a WebSocket (jobStatus) until its status
// is want, failing the test if it is not within d.
func waitStatus(t *testing.T, base, token, id, want string, d time.Duration) {
	t.Helper()
	dialer := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query": `subscription($id: ID!) { jobStatus(id: $id) { status } }`, "variables": map[string]any{"id": id}}})
	conn.SetReadDeadline(time.Now().Add(d))
	var last string
	for {
		var m struct {
			Type    string
			Payload struct {
				Data struct{ JobStatus struct{ Status string } }
			}
		}
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("job %s: %v after status %q, want %s within %v", id, err, last, want, d)
		}
		if m.Type == "next" {
			if last = m.Payload.Data.JobStatus.Status; last == want {
				return
			}
		}
	}
}
