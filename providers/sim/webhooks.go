package sim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// delivery is one webhook delivery: a state of a generation, with the
// webhook-id every copy and retry of it carries.
type delivery struct {
	id       string
	body     []byte
	terminal bool // of a terminal state
}

// deliver sends g's webhook deliveries in the order they were queued (or,
// with ReorderWebhooks, the terminal one first), one at a time, until the
// terminal one has been handled or the Server closes.
func (s *Server) deliver(g *generation) {
	defer s.wg.Done()
	for {
		select {
		case <-g.wake:
		case <-s.life.Done():
			return
		}
		for {
			d, ok, last := s.nextDelivery(g)
			if !ok {
				break
			}
			copies := max(g.b.WebhookCopies, 1)
			for range copies {
				if !s.send(g, d) {
					break
				}
			}
			if last {
				return
			}
		}
	}
}

// nextDelivery pops the next delivery of g to send. last reports that it is
// the final one: g is terminal (so nothing more will be queued) and nothing
// remains. With ReorderWebhooks nothing is released until g is terminal, and
// then the terminal delivery goes first and the progress ones after it.
func (s *Server) nextDelivery(g *generation) (d delivery, ok, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(g.outbox)
	if n == 0 {
		return delivery{}, false, false
	}
	if g.b.ReorderWebhooks && !g.reordered {
		if !g.outbox[n-1].terminal {
			return delivery{}, false, false
		}
		g.outbox = append([]delivery{g.outbox[n-1]}, g.outbox[:n-1]...)
		g.reordered = true
	}
	d, g.outbox = g.outbox[0], g.outbox[1:]
	return d, true, terminal(g.status) && len(g.outbox) == 0
}

// send tries one copy of delivery d to g's webhook URL, with retries and
// backoff. It returns false when the receiver answered 410 Gone or the
// Server closed: nothing more should be sent.
func (s *Server) send(g *generation, d delivery) bool {
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		gone := g.webhooksGone
		s.mu.Unlock()
		if gone {
			return false
		}
		status, err := s.post(g.req.WebhookURL, d)
		switch {
		case err == nil && status >= 200 && status < 300:
			return true
		case status == http.StatusGone:
			s.mu.Lock()
			g.webhooksGone = true
			s.mu.Unlock()
			s.log.Info("sim: webhook receiver answered 410: no more deliveries", "generation", g.id)
			return false
		}
		if s.life.Err() != nil {
			return false
		}
		s.log.Warn("sim: webhook delivery failed", "generation", g.id, "webhook_id", d.id,
			"attempt", attempt, "status", status, "err", err)
		if attempt == s.attempts {
			return true // given up on this one; later deliveries still go
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.life.Done():
			t.Stop()
			return false
		}
		wait *= 2
	}
}

// post makes one attempt of d, signed now, and returns the HTTP status.
func (s *Server) post(target string, d delivery) (int, error) {
	req, err := s.newDelivery(s.life, target, d)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// newDelivery returns the signed POST of d to target, signed now.
func (s *Server) newDelivery(ctx context.Context, target string, d delivery) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vidgate-sim/1")
	s.signer.SetHeaders(req.Header, d.id, s.now(), d.body)
	return req, nil
}
