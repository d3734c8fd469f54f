package broker_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/broker"
	"github.com/vidgate/vidgate/jobs/queue/queuetest"
)

// proxy forwards TCP connections to a server. Freeze makes the connections
// open at that moment carry nothing more, in either direction, without
// closing them: a network that drops packets, which no read or write
// reports. Connections made afterwards are forwarded again.
type proxy struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	links map[*link]struct{}
}

type link struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &proxy{ln: ln, links: make(map[*link]struct{})}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			l := &link{client: c, server: s}
			p.mu.Lock()
			p.links[l] = struct{}{}
			p.mu.Unlock()
			var pair sync.WaitGroup
			pair.Go(func() { l.pipe(s, c) })
			pair.Go(func() { l.pipe(c, s) })
			p.wg.Go(func() {
				pair.Wait()
				p.mu.Lock()
				delete(p.links, l)
				p.mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for l := range p.links {
			l.close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.frozen.Store(true)
	}
}

// pipe copies from src to dst, dropping what it reads once frozen, and
// closes both ends when either does.
func (l *link) pipe(dst io.Writer, src io.Reader) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !l.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *link) close() {
	l.client.Close()
	l.server.Close()
}

// TestDeadConnection freezes the network under the broker: no error
// reports it, but PONGs stop coming, so the broker gives the connection up
// after two ping intervals, connects again, and its subscriptions get
// ErrGap, then new messages.
func TestDeadConnection(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			r := be.open(t)
			p := startProxy(t, r.Addr)
			c := r.NewClient(t, func(o *redis.Options) { o.Addr = p.Addr() })
			b := broker.New(c, broker.Config{Prefix: r.Prefix, Logger: queuetest.Logger(t)})
			b.SetTiming(100*time.Millisecond, 10*time.Millisecond, 100*time.Millisecond)
			run(t, b)
			// Messages come from another process, whose connections the
			// freeze does not touch.
			pub := broker.New(r.NewClient(t), broker.Config{Prefix: r.Prefix})
			s := subscribe(t, b, "job:a")
			publish(t, pub, "job:a", "a", 1)
			if g, want := next(t, s), (got{"a", 1}); g != want {
				t.Fatalf("Next() = %v, want %v", g, want)
			}

			p.Freeze()
			start := time.Now()
			if err := nextErr(t, s); !errors.Is(err, broker.ErrGap) {
				t.Fatalf("Next() after the network froze = %v, want %v", err, broker.ErrGap)
			}
			t.Logf("ErrGap %v after the network froze (pinging every 100ms)", time.Since(start))
			publish(t, pub, "job:a", "a", 2)
			if g, want := next(t, s), (got{"a", 2}); g != want {
				t.Fatalf("Next() after ErrGap = %v, want %v", g, want)
			}
		})
	}
}
