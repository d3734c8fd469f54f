package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	name string
	data map[string]any
}

// openStream opens the event stream of token as who and returns its events.
func (e *env) openStream(t *testing.T, who, token string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/graphql", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-GraphQL-Event-Stream-Token", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return readEvents(res.Body), res
}

// readEvents sends the events of an event stream until it ends.
func readEvents(body io.Reader) <-chan sseEvent {
	events := make(chan sseEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				events <- ev
				ev = sseEvent{}
			}
		}
	}()
	return events
}

func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// graphql-sse's single connection mode: PUT reserves a stream, GET opens
// it, each POST runs an operation whose results arrive on the stream, tagged
// with its operationId, and DELETE stops one. The stream belongs to the
// identity that reserved it.
func TestSSESingleConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	put := e.call(t, "PUT", "", "")
	token := string(put.body)
	if put.status != http.StatusCreated || !strings.HasPrefix(put.header.Get("Content-Type"), "text/plain") || len(token) < 20 {
		t.Fatalf("PUT: %d %s %q, want 201 and a token", put.status, put.header.Get("Content-Type"), token)
	}
	events, res := e.openStream(t, "alice", token)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	withToken := []string{"Content-Type", "application/json; charset=utf-8", "X-GraphQL-Event-Stream-Token", token}

	op := func(id, query string) {
		t.Helper()
		body := mustJSON(map[string]any{"query": query, "extensions": map[string]any{"operationId": id}})
		if a := e.call(t, "POST", "", body, withToken...); a.status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %s, want 202", id, a.status, a.body)
		}
	}
	op("q1", "{ viewer { id } }")
	ev := nextEvent(t, events)
	payload, _ := ev.data["payload"].(map[string]any)
	if ev.name != "next" || ev.data["id"] != "q1" || !strings.Contains(mustJSON(payload["data"]), "alice") {
		t.Errorf("first event %s %v, want next for q1 with alice's viewer", ev.name, ev.data)
	}
	if ev := nextEvent(t, events); ev.name != "complete" || ev.data["id"] != "q1" {
		t.Errorf("second event %s %v, want complete for q1", ev.name, ev.data)
	}

	// A request error is a result like any, with its code and no data entry.
	op("q2", "{ nosuchfield }")
	ev = nextEvent(t, events)
	payload, _ = ev.data["payload"].(map[string]any)
	if errs := mustJSON(payload["errors"]); ev.data["id"] != "q2" || !strings.Contains(errs, "GRAPHQL_VALIDATION_FAILED") || strings.Contains(mustJSON(payload), `"data"`) {
		t.Errorf("invalid operation: %s %v, want next for q2 with GRAPHQL_VALIDATION_FAILED", ev.name, ev.data)
	}
	if ev := nextEvent(t, events); ev.name != "complete" || ev.data["id"] != "q2" {
		t.Errorf("after the error: %s %v, want complete for q2", ev.name, ev.data)
	}

	if a := e.call(t, "DELETE", "operationId=q1", "", withToken...); a.status != http.StatusOK {
		t.Errorf("DELETE: %d %s, want 200", a.status, a.body)
	}
	refusals := []struct {
		name, method, who, body, code string
		headers                       []string
		status                        int
	}{
		{"no operationId", "POST", "alice", `{"query": "{ viewer { id } }"}`, "BAD_REQUEST", withToken, 400},
		{"not JSON", "POST", "alice", `{"query": `, "BAD_REQUEST", withToken, 400},
		{"unknown token", "POST", "alice", `{"query": "{ viewer { id } }", "extensions": {"operationId": "x"}}`, "NOT_FOUND",
			[]string{"Content-Type", "application/json", "X-GraphQL-Event-Stream-Token", "nope"}, 404},
		{"another identity's token", "POST", "bob", `{"query": "{ viewer { id } }", "extensions": {"operationId": "x"}}`, "NOT_FOUND", withToken, 404},
		{"a second stream", "GET", "alice", "", "CONFLICT", []string{"Accept", "text/event-stream", "X-GraphQL-Event-Stream-Token", token}, 409},
		{"DELETE without operationId", "DELETE", "alice", "", "BAD_REQUEST", withToken, 400},
	}
	for _, tt := range refusals {
		req, _ := http.NewRequest(tt.method, e.url+"/graphql", strings.NewReader(tt.body))
		req.Header.Set("Authorization", "Bearer "+e.tokens[tt.who])
		for i := 0; i+1 < len(tt.headers); i += 2 {
			req.Header.Set(tt.headers[i], tt.headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var doc struct{ Errors []gqlError }
		json.Unmarshal(raw, &doc)
		if res.StatusCode != tt.status || len(doc.Errors) != 1 || doc.Errors[0].code() != tt.code || !strings.Contains(res.Header.Get("Content-Type"), "json") {
			t.Errorf("%s: %d %s %s, want %d %s in JSON", tt.name, res.StatusCode, res.Header.Get("Content-Type"), raw, tt.status, tt.code)
		}
	}
	// The stream still serves its owner.
	op("q3", "{ viewer { role } }")
	if ev := nextEvent(t, events); ev.name != "next" || ev.data["id"] != "q3" {
		t.Errorf("after the refusals: %s %v, want next for q3", ev.name, ev.data)
	}
}

// Distinct connections mode: a POST that prefers an event stream gets its
// operation's results as "next" events, then "complete"; a request error
// is one "next" event with its code and no data entry.
func TestSSEDistinctConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, jobstest.SQLite(t))
	stream := func(query string) []sseEvent {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+"/graphql", strings.NewReader(mustJSON(map[string]any{"query": query})))
		req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("%s: %d %s", query, res.StatusCode, ct)
		}
		var all []sseEvent
		for ev := range readEvents(res.Body) {
			all = append(all, ev)
		}
		return all
	}
	// A request that is not GraphQL over HTTP is refused before any stream.
	a := e.call(t, "POST", "", `{"query": 1}`, "Content-Type", "application/json", "Accept", "text/event-stream")
	if a.status != 400 || a.code() != "BAD_REQUEST" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("malformed request for a stream: %d %s %s, want 400 BAD_REQUEST in JSON", a.status, a.header.Get("Content-Type"), a.body)
	}
	evs := stream("{ viewer { id } }")
	if len(evs) != 2 || evs[0].name != "next" || !strings.Contains(mustJSON(evs[0].data), "alice") || evs[1].name != "complete" {
		t.Errorf("query: %+v, want next with alice's viewer, then complete", evs)
	}
	evs = stream("{ nosuchfield }")
	if len(evs) != 2 || evs[0].name != "next" || evs[1].name != "complete" ||
		!strings.Contains(mustJSON(evs[0].data["errors"]), "GRAPHQL_VALIDATION_FAILED") || evs[0].data["data"] != nil || strings.Contains(mustJSON(evs[0].data), `"data"`) {
		t.Errorf("invalid query: %+v, want next with GRAPHQL_VALIDATION_FAILED and no data entry, then complete", evs)
	}
}

// TestSSEStreamsKeepEachResult: a subscription's results reach an event
// stream intact, each its own, when they come back to back (myJobs sends
// the caller's jobs first, one result each): gqlgen writes every result of
// a subscription into one buffer, which a result must not share with the
// next, in either graphql-sse mode.
func TestSSEStreamsKeepEachResult(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, Broker: liveBroker(t), MaxConnectionsPerIdentity: -1})
	want := map[string]bool{}
	for i := range 40 {
		want[e.createID(t, "alice", fmt.Sprintf("job %d", i))] = true
	}
	heard := func(mode string, events <-chan sseEvent, result func(sseEvent) map[string]any) {
		t.Helper()
		seen := map[string]bool{}
		for len(seen) < len(want) {
			ev := nextEvent(t, events)
			id, _ := response{Data: func() map[string]any { d, _ := result(ev)["data"].(map[string]any); return d }()}.get("myJobs.id").(string)
			if ev.name != "next" || !want[id] || seen[id] {
				t.Fatalf("%s: event %s %v after %d distinct jobs, want the next of alice's %d jobs, once each", mode, ev.name, ev.data, len(seen), len(want))
			}
			seen[id] = true
		}
	}
	const myJobs = `subscription { myJobs { id status statusCopy version updatedAt } }`
	res := e.request(t, "POST", "", e.tokens["alice"], mustJSON(map[string]any{"query": myJobs}), "Content-Type", "application/json", "Accept", "text/event-stream")
	defer res.Body.Close()
	heard("distinct connections", readEvents(res.Body), func(ev sseEvent) map[string]any { return ev.data })

	put := e.request(t, "PUT", "", e.tokens["alice"], "")
	token, _ := io.ReadAll(put.Body)
	put.Body.Close()
	stream := e.request(t, "GET", "", e.tokens["alice"], "", "Accept", "text/event-stream", "X-GraphQL-Event-Stream-Token", string(token))
	defer stream.Body.Close()
	events := readEvents(stream.Body)
	op := e.request(t, "POST", "", e.tokens["alice"], mustJSON(map[string]any{"query": myJobs, "extensions": map[string]any{"operationId": "op"}}),
		"Content-Type", "application/json", "X-GraphQL-Event-Stream-Token", string(token))
	op.Body.Close()
	heard("single connection", events, func(ev sseEvent) map[string]any { p, _ := ev.data["payload"].(map[string]any); return p })
}
