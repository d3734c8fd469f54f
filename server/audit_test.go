package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

const auditQuery = `query($first: Int, $after: String, $action: String, $actor: String) {
  auditLog(first: $first, after: $after, action: $action, actor: $actor) {
    edges { cursor node { id at actor actorRole action targetKind targetId detail clientIp userAgent requestId } }
    pageInfo { hasNextPage endCursor }
  }
}`

// doFrom posts a GraphQL request as who with extra headers.
func (e *env) doFrom(t *testing.T, who, query string, vars map[string]any, hdr map[string]string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	r.status = res.StatusCode
	return r
}

func auditNodes(t *testing.T, r response) []map[string]any {
	t.Helper()
	edges, _ := r.get("auditLog.edges").([]any)
	out := make([]map[string]any, len(edges))
	for i, e := range edges {
		out[i] = e.(map[string]any)["node"].(map[string]any)
	}
	return out
}

func TestAuditLogGraphQL(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		// The test client is on loopback: trusting loopback as a proxy makes
		// its X-Forwarded-For the client address.
		e := newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		const prompt = "a private prompt about a blue whale"
		ok, bad, gone := e.createID(t, "alice", prompt), e.createID(t, "alice", prompt), e.createID(t, "alice", prompt)
		e.complete(t, ok)
		e.complete(t, bad)
		from := map[string]string{"X-Forwarded-For": "198.51.100.7, 10.1.2.3", "User-Agent": "review-tool/1.0"}
		e.doFrom(t, "rita", approve, map[string]any{"id": ok, "note": prompt}, from).ok(t)
		e.doFrom(t, "ada", reject, map[string]any{"id": bad, "reasons": []string{"OTHER"}, "note": prompt}, from).ok(t)
		e.doFrom(t, "alice", `mutation($id: ID!) { cancelVideoJob(id: $id) { status } }`, map[string]any{"id": gone}, from).ok(t)
		// Denied actions leave nothing.
		e.do(t, "bob", `mutation($id: ID!) { cancelVideoJob(id: $id) { status } }`, map[string]any{"id": gone}).wantError(t, "NOT_FOUND", "")
		e.do(t, "alice", approve, map[string]any{"id": ok}).wantError(t, "FORBIDDEN", "")

		// API keys are made and revoked by the vidgate command (as the CLI actor).
		ctx := context.Background()
		key, k, err := e.store.CreateAPIKey(ctx, "partner-1", jobs.RoleUser, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.RevokeAPIKey(ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			action, actor, role, target, ip string
		}{
			{"job.approve", "rita", "reviewer", ok, "10.1.2.3"},
			{"job.reject", "ada", "admin", bad, "10.1.2.3"},
			{"job.cancel", "alice", "user", gone, "10.1.2.3"},
			{"apikey.create", jobs.CLIActor().Subject, "cli", k.Prefix, ""},
			{"apikey.revoke", jobs.CLIActor().Subject, "cli", k.Prefix, ""},
		}
		for _, tt := range tests {
			nodes := auditNodes(t, e.do(t, "ada", auditQuery, map[string]any{"action": tt.action}).ok(t))
			if len(nodes) != 1 {
				t.Fatalf("auditLog(action %s) = %d entries, want 1", tt.action, len(nodes))
			}
			n := nodes[0]
			ip, _ := n["clientIp"].(string)
			if n["actor"] != tt.actor || n["actorRole"] != tt.role || n["targetId"] != tt.target || ip != tt.ip {
				t.Errorf("auditLog(action %s) = %v, want actor %s (%s), target %s, ip %q", tt.action, n, tt.actor, tt.role, tt.target, tt.ip)
			}
			if tt.ip != "" && (n["userAgent"] != "review-tool/1.0" || n["requestId"] == nil) {
				t.Errorf("auditLog(action %s) user agent/request id = %v/%v", tt.action, n["userAgent"], n["requestId"])
			}
			raw, _ := json.Marshal(n)
			if strings.Contains(string(raw), "blue whale") || strings.Contains(string(raw), strings.SplitN(key, "_", 3)[2]) {
				t.Errorf("entry %s holds the prompt, a note or the key: %s", tt.action, raw)
			}
		}
		all := auditNodes(t, e.do(t, "ada", auditQuery, nil).ok(t))
		if len(all) != len(tests) {
			t.Errorf("auditLog = %d entries, want %d", len(all), len(tests))
		}
		// Pages.
		p1 := e.do(t, "ada", auditQuery, map[string]any{"first": 2}).ok(t)
		if len(auditNodes(t, p1)) != 2 || p1.get("auditLog.pageInfo.hasNextPage") != true {
			t.Fatalf("auditLog(first 2) = %v, want 2 with a next page", p1.Data)
		}
		p2 := e.do(t, "ada", auditQuery, map[string]any{"first": 10, "after": p1.str("auditLog.pageInfo.endCursor")}).ok(t)
		if got := auditNodes(t, p2); len(got) != 3 || got[2]["action"] != "job.approve" {
			t.Errorf("auditLog(page 2) = %v, want the 3 oldest ending with job.approve", got)
		}
		if got := auditNodes(t, e.do(t, "ada", auditQuery, map[string]any{"actor": "alice"}).ok(t)); len(got) != 1 {
			t.Errorf("auditLog(actor alice) = %d entries, want 1", len(got))
		}
		e.do(t, "ada", auditQuery, map[string]any{"first": 0}).wantError(t, "BAD_USER_INPUT", "first")
		// Only admins read it.
		for _, who := range []string{"alice", "rita"} {
			r := e.do(t, who, auditQuery, nil).wantError(t, "FORBIDDEN", "")
			if r.Message == "" {
				t.Errorf("%s: empty FORBIDDEN message", who)
			}
		}
		e.do(t, "", auditQuery, nil).wantError(t, "UNAUTHENTICATED", "")
	})
}

func TestAuditClientIPUntrustedProxy(t *testing.T) {
	e := newEnv(t, jobstest.SQLite(t))
	id := e.createID(t, "alice", "p")
	// Without --trusted-proxies a forged X-Forwarded-For is ignored.
	e.doFrom(t, "alice", `mutation($id: ID!) { cancelVideoJob(id: $id) { status } }`, map[string]any{"id": id},
		map[string]string{"X-Forwarded-For": "192.0.2.1"}).ok(t)
	nodes := auditNodes(t, e.do(t, "ada", auditQuery, nil).ok(t))
	if len(nodes) != 1 || nodes[0]["clientIp"] != "127.0.0.1" {
		t.Fatalf("auditLog = %v, want one entry from 127.0.0.1", nodes)
	}
}
