package wsgorilla_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/wsgorilla"
)

// Not parallel: it counts the goroutines of the whole process. Parallel
// tests are paused until the sequential ones are done.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()

	// Subtests: their cleanups (servers, client conns) run before the count.
	t.Run("gqlgen connections", func(t *testing.T) {
		f := newFixture(t, wsgorilla.Options{PingInterval: 100 * time.Millisecond, WriteTimeout: 200 * time.Millisecond},
			func(ws *transport.Websocket) {
				ws.KeepAlivePingInterval = 50 * time.Millisecond
				ws.PingPongInterval = 100 * time.Millisecond
				ws.InitTimeout = time.Second
			})

		tests := []struct {
			name  string
			proto string
			end   func(*client)
		}{
			{"transport-ws, client closes", protoTransportWS, func(c *client) {
				c.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				c.readCloseError(5 * time.Second)
			}},
			{"graphql-ws, client terminates", protoGraphQLWS, func(c *client) {
				c.conn.WriteJSON(wsMsg{Type: "connection_terminate"})
				c.readCloseError(5 * time.Second)
			}},
			{"transport-ws, TCP drop", protoTransportWS, func(c *client) { c.conn.NetConn().Close() }},
			{"transport-ws, silent peer", protoTransportWS, func(c *client) {}}, // dropped by pings
			{"transport-ws, stalled reader", protoTransportWS, func(c *client) {
				c.conn.WriteJSON(wsMsg{ID: "2", Type: "subscribe", Payload: queryPayload("subscription { flood }")})
			}},
		}
		var clients []*client
		for _, tt := range tests {
			for range 3 {
				c := mustDial(t, f.url, tt.proto)
				c.init()
				start := "subscribe"
				if tt.proto == protoGraphQLWS {
					start = "start"
				}
				// Pings may drop a peer that does not read at any time; a
				// failed send is fine here, only leaks matter.
				c.conn.WriteJSON(wsMsg{ID: "1", Type: start, Payload: queryPayload("subscription { name }")})
				clients = append(clients, c)
				tt.end(c)
			}
		}
		if !f.waitIdle(10 * time.Second) {
			t.Errorf("OpenConnections() = %d, handlers running %d, want 0, 0", f.impl.OpenConnections(), f.handled.Load())
		}
		for _, c := range clients {
			c.conn.Close()
		}
	})

	t.Run("repeated Close", func(t *testing.T) {
		_, conn, c := acceptOne(t, wsgorilla.Options{PingInterval: 10 * time.Millisecond})
		conn.WriteClose(1000, "bye")
		for range 3 {
			conn.Close()
		}
		c.readCloseError(5 * time.Second)
		c.conn.Close()
	})

	var after int
	if !eventually(10*time.Second, func() bool {
		after = runtime.NumGoroutine()
		return after <= before
	}) {
		buf := make([]byte, 1<<20)
		t.Errorf("runtime.NumGoroutine() = %d, want at most %d as before\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}
