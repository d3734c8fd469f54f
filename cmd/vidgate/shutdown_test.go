package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// On SIGTERM (its context ending) the server closes WebSockets with 1001
// (going away) so clients reconnect elsewhere, without completing their
// subscriptions first (graphql-ws clients would not subscribe again), logs
// the code, and exits cleanly.
func TestShutdownClosesWebsockets(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--shutdown-grace", "5s"}, stdout, stderr)
	}()
	addr := regexp.MustCompile(`"addr":"([^"]+)"`)
	if !stderr.waitFor(20*time.Second, addr.MatchString) {
		t.Fatalf("vidgate did not start: %s", stderr.String())
	}
	base := addr.FindStringSubmatch(stderr.String())[1]
	token := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindStringSubmatch(stdout.String())[1]
	// A job of the caller's, so that the subscription's first message (the
	// caller's jobs) says it is live.
	graphql(t, "http://"+base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "a kite"}) { job { id } } }`)
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial("ws://"+base+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { myJobs { id } }"}})
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m struct{ Type string }
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("read before the shutdown: %v, want the subscription's first message", err)
		}
		if m.Type == "next" {
			break
		}
	}
	cancel()
	var closeErr *websocket.CloseError
	for {
		var m struct{ Type string }
		err := conn.ReadJSON(&m)
		if err == nil {
			if m.Type == "complete" {
				t.Errorf("the subscription got complete before the close: it would not be resubscribed")
			}
			continue
		}
		var ok bool
		closeErr, ok = err.(*websocket.CloseError)
		if !ok {
			t.Fatalf("read after shutdown: %v, want a close frame", err)
		}
		break
	}
	if closeErr.Code != websocket.CloseGoingAway || !strings.Contains(closeErr.Text, "shutting down") {
		t.Errorf("close = %d %q, want 1001 server shutting down", closeErr.Code, closeErr.Text)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vidgate exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("vidgate did not exit after its context ended")
	}
	if !strings.Contains(stderr.String(), `"server_close_code":1001`) {
		t.Errorf("no websocket closed line with server_close_code 1001 in the log:\n%s", stderr.String())
	}
}
