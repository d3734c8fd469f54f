package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// liveBroker is a running broker over an in-process Redis, stopped at the
// end of the test.
func liveBroker(t *testing.T) *broker.Broker {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	b := broker.New(rdb, broker.Config{Prefix: "vgtest"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); rdb.Close() })
	return b
}

// wsInit opens a graphql-transport-ws connection as who and returns it
// with the type of the first message that is not a keep-alive, or the
// close error.
func (e *env) wsInit(t *testing.T, who string) (*websocket.Conn, string, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(e.url, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	t.Cleanup(func() { conn.Close() })
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + e.tokens[who]}})
	for {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m struct{ Type string }
		if err := conn.ReadJSON(&m); err != nil {
			return conn, "", err
		}
		if m.Type != "ping" && m.Type != "pong" && m.Type != "ka" {
			return conn, m.Type, nil
		}
	}
}

// waitSlots waits until the server holds want slots for subject. It polls:
// the server tells nobody when a slot is freed, and the test that uses it
// needs a running broker (for SSE), which cannot serve a synctest bubble
// from outside it.
func waitSlots(t *testing.T, srv *server.Server, subject string, want int) {
	t.Helper()
	var by map[string]int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, by = srv.ConnectionSlots(); by[subject] == want {
			return
		}
	}
	t.Fatalf("slots of %s = %d, want %d", subject, by[subject], want)
}

func TestConnectionsPerIdentity(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: 2, Broker: liveBroker(t)})

	// Two WebSockets per identity are accepted; the third is closed 4429.
	first, typ, err := e.wsInit(t, "alice")
	if err != nil || typ != "connection_ack" {
		t.Fatalf("alice's first connection_init = %q, %v; want connection_ack", typ, err)
	}
	if _, typ, err := e.wsInit(t, "alice"); err != nil || typ != "connection_ack" {
		t.Fatalf("alice's second connection_init = %q, %v; want connection_ack", typ, err)
	}
	_, _, err = e.wsInit(t, "alice")
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4429 || ce.Text != "Too many connections" {
		t.Fatalf("alice's third connection_init: %v, want close 4429 Too many connections", err)
	}
	// Another identity has its own allowance.
	if _, typ, err := e.wsInit(t, "bob"); err != nil || typ != "connection_ack" {
		t.Fatalf("bob's connection_init = %q, %v; want connection_ack", typ, err)
	}
	waitSlots(t, e.srv, "alice", 2)

	// Closing a connection frees its slot: a new one is accepted.
	first.Close()
	waitSlots(t, e.srv, "alice", 1)
	if _, typ, err := e.wsInit(t, "alice"); err != nil || typ != "connection_ack" {
		t.Fatalf("alice's connection_init after closing one = %q, %v; want connection_ack", typ, err)
	}

	// SSE subscription streams count against the same cap: alice is full.
	sse := func(who string) *http.Response {
		req, _ := http.NewRequest("POST", e.url+"/graphql", strings.NewReader(`{"query":"subscription { myJobs { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	if res := sse("alice"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("SSE over the cap = %d, want 429", res.StatusCode)
	} else if body, _ := io.ReadAll(res.Body); !strings.Contains(string(body), `"RATE_LIMITED"`) {
		t.Errorf("SSE over the cap body = %s, want code RATE_LIMITED", body)
	}
	// bob holds one WebSocket: one stream fits, the next does not.
	stream := sse("bob")
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("bob's SSE stream = %d %s, want 200 text/event-stream", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	if res := sse("bob"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("bob's SSE over the cap = %d, want 429", res.StatusCode)
	}
	stream.Body.Close()
	waitSlots(t, e.srv, "bob", 1)
}

// Every slot is given back however connections end: no leak. In a
// synctest bubble, on the in-memory network, so that synctest.Wait says
// when the server has seen every close.
func TestConnectionSlotsDoNotLeak(t *testing.T) {
	t.Parallel()
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvAuth(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: 3}, authn)
	synctest.Test(t, func(t *testing.T) {
		token, err := authn.Issue("alice", jobs.RoleUser, time.Hour) // on the bubble's clock
		if err != nil {
			t.Fatal(err)
		}
		l := serveInBubble(t, e.srv)
		for round := range 5 {
			var conns []*bubbleWS
			for range 3 {
				conns = append(conns, dialInBubble(t, l, token))
			}
			openInBubble(t, l, token).wantClose(t, 4429, "Too many connections")
			if _, by := e.srv.ConnectionSlots(); by["alice"] != 3 {
				t.Fatalf("round %d: slots of alice = %d, want 3", round, by["alice"])
			}
			// End them with a close frame, or by dropping the connection.
			conns[0].conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
			conns[1].conn.UnderlyingConn().Close()
			conns[2].conn.Close()
			synctest.Wait()
			if _, by := e.srv.ConnectionSlots(); by["alice"] != 0 {
				t.Fatalf("round %d: slots of alice = %d after every connection ended, want 0", round, by["alice"])
			}
		}
		if total, by := e.srv.ConnectionSlots(); total != 0 || len(by) != 0 {
			t.Fatalf("ConnectionSlots() = %d, %v; want none", total, by)
		}
		if n := e.srv.OpenConnections(); n != 0 {
			t.Fatalf("OpenConnections() = %d after every client left, want 0", n)
		}
	})
}

// TestJSONPreferredIsNotAStream: a client that accepts an event stream but
// prefers JSON (urql sends "application/graphql-response+json,
// application/json, text/event-stream, multipart/mixed" with every query)
// gets one JSON answer, and it is not counted against the stream cap.
func TestJSONPreferredIsNotAStream(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: 1, Broker: liveBroker(t)})
	if _, typ, err := e.wsInit(t, "alice"); err != nil || typ != "connection_ack" {
		t.Fatalf("alice's connection_init = %q, %v; want connection_ack", typ, err)
	}
	waitSlots(t, e.srv, "alice", 1) // alice is at the cap
	for _, accept := range []string{
		"application/graphql-response+json, application/json, text/event-stream, multipart/mixed",
		"application/json, text/event-stream",
	} {
		req, _ := http.NewRequest("POST", e.url+"/graphql", strings.NewReader(`{"query":"{ viewer { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("query with Accept %q = %d %s, want 200 and a JSON answer", accept, res.StatusCode, ct)
		}
		if !strings.Contains(string(body), `"viewer"`) || strings.Contains(string(body), "event:") {
			t.Errorf("query with Accept %q answered %s, want one JSON result", accept, body)
		}
	}
}
