package gqlws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vidgate/vidgate/server/gqlws"
)

// memConn is a WebSocket connection in memory: the client's messages are
// queued up front; what the server writes is recorded.
type memConn struct {
	proto string

	mu      sync.Mutex
	in      [][]byte
	out     [][]byte
	code    int
	closed  bool
	closedC chan struct{}
}

func (c *memConn) NextReader() (int, io.Reader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, nil, errors.New("closed")
	}
	if len(c.in) == 0 {
		// The client has nothing more to say and hangs up.
		c.closed = true
		close(c.closedC)
		return 0, nil, transport.ErrWebsocketClosed
	}
	m := c.in[0]
	c.in = c.in[1:]
	return 1, bytes.NewReader(m), nil
}

func (c *memConn) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, b)
	return nil
}

func (c *memConn) WriteClose(code int, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code == 0 {
		c.code = code
	}
	return nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.closedC)
	}
	return nil
}

func (c *memConn) Subprotocol() string { return c.proto }

type memUpgrader struct{ conn *memConn }

func (u memUpgrader) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return u.conn, nil
}

// FuzzMessages feeds arbitrary messages (one per line of the input) to a
// connection of either protocol and checks the transport never panics,
// closes only with the protocol's codes, and writes only messages of the
// protocol's types, each result for an id the client used.
func FuzzMessages(f *testing.F) {
	for _, seed := range []string{
		`{"type":"connection_init"}` + "\n" + `{"id":"1","type":"subscribe","payload":{"query":"subscription { ticks }"}}` + "\n" + `{"id":"1","type":"complete"}`,
		`{"type":"connection_init","payload":{"Authorization":"Bearer x"}}` + "\n" + `{"id":"q","type":"subscribe","payload":{"query":"{ hello }"}}`,
		`{"type":"connection_init"}` + "\n" + `{"id":"1","type":"start","payload":{"query":"{ hello }"}}` + "\n" + `{"type":"connection_terminate"}`,
		`{"type":"ping","payload":{"a":1}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":{"a":1}}}`,
		`{"type":"connection_init","payload":[1]}`,
		`{"type":"connection_init"}` + "\n" + `{"type":"connection_init"}`,
		`{"type":"connection_init"}` + "\n" + `{"id":"1","type":"subscribe","payload":"x"}`,
		`{"type":"connection_init"}` + "\n" + `{"id":"1","type":"subscribe","payload":{"query":"subscription { boom }"}}`,
		`not json`,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { hello: String! }
		type Subscription { ticks: Int! boom: Int! }
	`})
	exec := executor.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			op := graphql.GetOperationContext(ctx).Operation
			if op.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: []byte(`{"hello":"world"}`)})
			}
			if op.SelectionSet[0].(*ast.Field).Name == "boom" {
				return func(context.Context) *graphql.Response { panic("boom") }
			}
			// Two values through Wake, then the end.
			out := make(chan int, 2)
			ready, ok := gqlws.Wake(ctx)
			out <- 1
			out <- 2
			close(out)
			if ok {
				ready()
				ready()
				ready()
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case v, ok := <-out:
					if !ok {
						return nil
					}
					return &graphql.Response{Data: []byte(`{"ticks":` + string(rune('0'+v)) + `}`)}
				case <-ctx.Done():
					return nil
				}
			}
		},
	})
	exec.SetRecoverFunc(func(context.Context, any) error { return errors.New("internal system error") })

	f.Fuzz(func(t *testing.T, input string, modern bool) {
		proto := gqlws.GraphQLWS
		allowed := map[string]bool{"connection_ack": true, "connection_error": true, "ka": true, "data": true, "error": true, "complete": true}
		if modern {
			proto = gqlws.TransportWS
			allowed = map[string]bool{"connection_ack": true, "pong": true, "next": true, "error": true, "complete": true}
		}
		conn := &memConn{proto: proto, closedC: make(chan struct{})}
		ids := map[string]bool{}
		for line := range bytes.SplitSeq([]byte(input), []byte("\n")) {
			conn.in = append(conn.in, line)
			var m struct{ ID string }
			_ = json.Unmarshal(line, &m)
			ids[m.ID] = true
		}
		tr := &gqlws.Transport{Upgrader: memUpgrader{conn}, InitTimeout: time.Minute}
		tr.Do(httptest.NewRecorder(), httptest.NewRequest("GET", "/graphql", nil), exec)
		<-conn.closedC
		conn.mu.Lock()
		defer conn.mu.Unlock()
		switch conn.code {
		case 0, 1000, 4400, 4401, 4403, 4408, 4409, 4429:
		default:
			t.Fatalf("closed with %d", conn.code)
		}
		for _, b := range conn.out {
			var m struct {
				ID   string
				Type string
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("wrote %s: %v", b, err)
			}
			if !allowed[m.Type] {
				t.Fatalf("wrote a %q message on %s: %s", m.Type, proto, b)
			}
			if m.ID != "" && !ids[m.ID] {
				t.Fatalf("wrote %s for an id the client never sent", b)
			}
		}
	})
}
