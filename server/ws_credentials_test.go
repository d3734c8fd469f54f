package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/auth"
)

// TestJWKSWebSocket: a token from the identity provider, RS256 or ES256 and
// verified through its JWKS, authenticates a WebSocket's connection_init
// like an HTTP request, and its subscription receives data; a token signed
// by a key the JWKS does not hold is closed with 4401, and so is one that
// names a published kid but was signed by another key.
func TestJWKSWebSocket(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	ecPoint, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": enc(rsaKey.N.Bytes()), "e": enc(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": enc(ecPoint[1:33]), "y": enc(ecPoint[33:])},
	}}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jwks)
	}))
	t.Cleanup(idp.Close)

	const issuer, audience = "https://idp.example.com/", "vidgate"
	sign := func(method jwt.SigningMethod, key any, kid, sub string) string {
		t.Helper()
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": sub, "role": "user", "iss": issuer, "aud": audience,
			"exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		// JWKS only: no HS256 secret, so only the provider's keys verify.
		authn, err := auth.New(auth.Config{JWKSURL: idp.URL + "/.well-known/jwks.json", Issuer: issuer, Audience: audience})
		if err != nil {
			t.Fatal(err)
		}
		b := liveBroker(t)
		e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1}, authn)
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		e.tokens["alice-rs256"] = sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", "alice")
		e.tokens["alice-es256"] = sign(jwt.SigningMethodES256, ecKey, "ec-1", "alice")
		e.tokens["unknown-kid"] = sign(jwt.SigningMethodRS256, strangerKey, "rsa-2", "alice")
		e.tokens["wrong-key"] = sign(jwt.SigningMethodRS256, strangerKey, "rsa-1", "alice")

		id := e.createID(t, "alice-rs256", "a job made with a JWKS token")

		// RS256: the subscription hears the job's state, then a change made
		// over HTTP with the ES256 token.
		// The change is made once the first message (the job's state) is
		// in: the subscription is live by then. Plain HTTP: no t in this
		// goroutine.
		canceled := make(chan struct{})
		var seen []string
		o := e.subscribeFirst(t, "alice-rs256", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second,
			func(d map[string]any) bool {
				s, _ := d["jobStatus"].(map[string]any)["status"].(string)
				seen = append(seen, s)
				if len(seen) == 1 {
					go func() {
						defer close(canceled)
						post(e.url, e.tokens["alice-es256"], `mutation($id: ID!) { cancelVideoJob(id: $id) { id } }`, map[string]any{"id": id})
					}()
				}
				return s == "CANCELED"
			})
		if len(seen) > 0 {
			<-canceled
		}
		if o.code != "" || o.get("jobStatus.id") != id || len(seen) < 2 || seen[0] != "QUEUED" || seen[len(seen)-1] != "CANCELED" {
			t.Errorf("jobStatus over a WebSocket with an RS256 JWKS token = %q %v, heard %v; want QUEUED then CANCELED", o.code, o.data, seen)
		}
		// ES256: the subscription's first message is the job's state.
		o = e.subscribeFirst(t, "alice-es256", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second, nil)
		if o.code != "" || o.get("jobStatus.status") != "CANCELED" {
			t.Errorf("jobStatus over a WebSocket with an ES256 JWKS token = %q %v, want CANCELED", o.code, o.data)
		}

		// Keys the provider did not publish: closed with 4401, saying why
		// without echoing the token.
		for _, who := range []string{"unknown-kid", "wrong-key"} {
			_, typ, err := e.wsInit(t, who)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4401 || !strings.HasPrefix(ce.Text, "Unauthorized") {
				t.Errorf("connection_init with a %s token = %q, %v; want close 4401 Unauthorized", who, typ, err)
			} else if strings.Contains(ce.Text, e.tokens[who]) {
				t.Errorf("close reason %q echoes the token", ce.Text)
			}
			// The same token over HTTP is 401 UNAUTHENTICATED.
			if r := e.do(t, who, `{ jobs(first: 1) { edges { node { id } } } }`, nil); r.status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].code() != "UNAUTHENTICATED" {
				t.Errorf("HTTP with a %s token = %d %+v, want 401 UNAUTHENTICATED", who, r.status, r.Errors)
			}
		}
	})
}

// TestAPIKeyWebSocket: a partner app's API key is the same credential in a
// WebSocket's connection_init as over HTTP: it subscribes while valid, and
// once revoked, or when unknown, the connection is closed with 4401.
func TestAPIKeyWebSocket(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		keys := jobs.NewStore(db, nil)
		authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32), Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		b := liveBroker(t)
		e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1}, authn)
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		key, k, err := keys.CreateAPIKey(ctx, "partner-7", jobs.RoleUser, "shop")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens["partner"] = key
		e.tokens["unknown"] = "vg_nope_" + strings.Repeat("x", 32)

		id := e.createID(t, "partner", "a job made with an API key")
		o := e.subscribeFirst(t, "partner", `subscription($id: ID!) { jobStatus(id: $id) { id status } }`, map[string]any{"id": id}, 5*time.Second, nil)
		if o.code != "" || o.get("jobStatus.id") != id || o.get("jobStatus.status") != "QUEUED" {
			t.Errorf("jobStatus over a WebSocket with an API key = %q %v, want the QUEUED job", o.code, o.data)
		}

		if err := keys.RevokeAPIKey(ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{"partner", "unknown"} {
			_, typ, err := e.wsInit(t, who)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4401 {
				t.Errorf("connection_init with a revoked or unknown API key (%s) = %q, %v; want close 4401", who, typ, err)
			} else if strings.Contains(ce.Text, e.tokens[who]) {
				t.Errorf("close reason %q echoes the key", ce.Text)
			}
		}
	})
}

// pipeListener is an in-memory network for a synctest bubble, where real
// sockets cannot be: dial hands Serve one end of a net.Pipe.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// serveInBubble serves h on an in-memory network until the test ends.
func serveInBubble(t *testing.T, h http.Handler) *pipeListener {
	l := newPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

// bubbleWS is a graphql-transport-ws client in the bubble. It reads all
// the time (so WebSocket pings are answered) into frames; closed gets how
// the connection ended.
type bubbleWS struct {
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan error
}

func dialInBubble(t *testing.T, l *pipeListener, token string) *bubbleWS {
	t.Helper()
	c := openInBubble(t, l, token)
	synctest.Wait()
	if m := c.frame(); m == nil || m["type"] != "connection_ack" {
		t.Fatalf("connection_init answered %v (%v), want connection_ack", m, c.err())
	}
	return c
}

// openInBubble dials and sends connection_init with token, without waiting
// for the answer.
func openInBubble(t *testing.T, l *pipeListener, token string) *bubbleWS {
	t.Helper()
	d := websocket.Dialer{NetDialContext: l.dial, Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial("ws://vidgate.test/graphql", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &bubbleWS{conn: conn, frames: make(chan map[string]any, 100), closed: make(chan error, 1)}
	go func() {
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				c.closed <- err
				return
			}
			c.frames <- m
		}
	}()
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
	return c
}

// frame returns the next message received, or nil.
func (c *bubbleWS) frame() map[string]any {
	select {
	case m := <-c.frames:
		return m
	default:
		return nil
	}
}

// err returns how the connection ended, or nil while it is open.
func (c *bubbleWS) err() error {
	select {
	case err := <-c.closed:
		c.closed <- err
		return err
	default:
		return nil
	}
}

// alive checks the connection is open and answering pings.
func (c *bubbleWS) alive(t *testing.T, when string) {
	t.Helper()
	c.conn.WriteJSON(map[string]any{"type": "ping"})
	synctest.Wait()
	if m := c.frame(); m == nil || m["type"] != "pong" {
		t.Fatalf("%s: ping answered %v (%v), want pong on an open connection", when, m, c.err())
	}
}

func (c *bubbleWS) wantClose(t *testing.T, code int, text string) {
	t.Helper()
	synctest.Wait()
	var ce *websocket.CloseError
	if err := c.err(); !errors.As(err, &ce) || ce.Code != code || ce.Text != text {
		t.Fatalf("connection ended with %v, want close %d %q", err, code, text)
	}
}

// TestWebSocketEndsWithItsCredential: a WebSocket authenticated by a JWT
// is closed with 4401 when the token stops being accepted (exp plus the
// leeway), not a moment before; one authenticated by an API key is closed
// with 4401 within APIKeyCheckInterval of the key's revocation, while
// another key's connection stays open.
func TestWebSocketEndsWithItsCredential(t *testing.T) {
	db := jobstest.SQLite(t)
	keys := jobs.NewStore(db, nil)
	ctx := context.Background()
	revoked, k, err := keys.CreateAPIKey(ctx, "partner-7", jobs.RoleUser, "shop")
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := keys.CreateAPIKey(ctx, "partner-8", jobs.RoleUser, "other shop")
	if err != nil {
		t.Fatal(err)
	}
	const interval = 45 * time.Second
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32), Keys: keys, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Made outside the bubble: the env's HTTP server listens on a real
	// socket, which the bubble's clock cannot wait for. Its handler is
	// served in the bubble, on the in-memory network.
	e := newEnvAuth(t, db, server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: -1, APIKeyCheckInterval: interval}, authn)
	synctest.Test(t, func(t *testing.T) {
		l := serveInBubble(t, e.srv)

		token, err := authn.Issue("alice", jobs.RoleUser, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		jwtConn := dialInBubble(t, l, token)
		keyConn := dialInBubble(t, l, revoked)
		keptConn := dialInBubble(t, l, kept)

		// Revoked: closed at the next check, within the interval.
		if err := keys.RevokeAPIKey(ctx, k.Prefix); err != nil {
			t.Fatal(err)
		}
		keyConn.alive(t, "just after the revocation")
		time.Sleep(interval)
		keyConn.wantClose(t, 4401, "Unauthorized: API key revoked")
		keptConn.alive(t, "another key's connection after the check")

		// The JWT: open until exp plus the leeway, closed then.
		time.Sleep(time.Hour + 29*time.Second - interval)
		jwtConn.alive(t, "a second before the token stops being accepted")
		time.Sleep(time.Second)
		jwtConn.wantClose(t, 4401, "Unauthorized: token expired")
		keptConn.alive(t, "the API key's connection after the JWT's expiry")
	})
}

// TestPendingWebSocketsPerIP: WebSockets that have not sent
// connection_init belong to no identity yet; one address may hold
// MaxPendingWebSocketsPerIP of them, and one more is refused with 429
// RATE_LIMITED before the upgrade. A connection_init, or a close, frees the
// place. (In a bubble, so that synctest.Wait says when the server has seen
// a close.)
func TestPendingWebSocketsPerIP(t *testing.T) {
	authn, err := auth.New(auth.Config{HS256Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvAuth(t, jobstest.SQLite(t), server.Config{MaxBodyBytes: 64 << 10, MaxConnectionsPerIdentity: -1, MaxPendingWebSocketsPerIP: 2}, authn)
	synctest.Test(t, func(t *testing.T) {
		// Issued on the bubble's clock: a token issued outside it would be
		// from the bubble's future, and refused as such.
		token, err := authn.Issue("alice", jobs.RoleUser, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens["alice"] = token
		l := serveInBubble(t, e.srv)
		dial := func() (*websocket.Conn, *http.Response, error) {
			d := websocket.Dialer{NetDialContext: l.dial, Subprotocols: []string{"graphql-transport-ws"}}
			conn, res, err := d.Dial("ws://vidgate.test/graphql", nil)
			if conn != nil {
				t.Cleanup(func() { conn.Close() })
			}
			return conn, res, err
		}
		accepted := func(when string) *websocket.Conn {
			t.Helper()
			conn, _, err := dial()
			if err != nil {
				t.Fatalf("%s: dial = %v, want a WebSocket", when, err)
			}
			return conn
		}
		refused := func(when string) {
			t.Helper()
			_, res, err := dial()
			if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("%s: dial = %v, %v; want 429", when, res, err)
			}
			if body, _ := io.ReadAll(res.Body); !strings.Contains(string(body), `"RATE_LIMITED"`) {
				t.Errorf("%s: the refusal's body is %s, want code RATE_LIMITED", when, body)
			}
		}
		first := accepted("the first socket")
		second := accepted("the second socket")
		refused("a third socket before any connection_init")

		// The first authenticates: its place is free, and it counts against
		// its identity instead.
		first.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + e.tokens["alice"]}})
		var m struct{ Type string }
		if err := first.ReadJSON(&m); err != nil || m.Type != "connection_ack" {
			t.Fatalf("connection_init = %q, %v; want connection_ack", m.Type, err)
		}
		third := accepted("a socket after another authenticated")
		refused("with two sockets pending again")

		// Pending sockets that close free their places too.
		second.Close()
		third.Close()
		synctest.Wait()
		accepted("after two pending sockets closed")
		accepted("after two pending sockets closed")
		refused("with two sockets pending again")
	})
}
