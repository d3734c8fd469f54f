package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

// A reservation that no stream opens lapses after sseReserveTTL, and one
// identity holds at most sseMaxReserved unopened reservations.
func TestSSEReservationsLapseAndAreCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSSESingle(20, nil)
		reserve := func(subject string) (int, string) {
			rec := httptest.NewRecorder()
			s.reserve(rec, subject)
			return rec.Code, rec.Body.String()
		}
		_, token := reserve("alice")
		if s.lookup(token, "alice") == nil || s.lookup(token, "bob") != nil {
			t.Fatal("a fresh reservation is not alice's alone")
		}
		for i := 1; i < sseMaxReserved; i++ {
			if code, _ := reserve("alice"); code != http.StatusCreated {
				t.Fatalf("reservation %d: %d, want 201", i+1, code)
			}
		}
		if code, body := reserve("alice"); code != http.StatusTooManyRequests {
			t.Errorf("reservation %d: %d %s, want 429", sseMaxReserved+1, code, body)
		}
		if code, _ := reserve("bob"); code != http.StatusCreated {
			t.Errorf("bob's first reservation: %d, want 201", code)
		}

		time.Sleep(sseReserveTTL - time.Second)
		synctest.Wait()
		if s.lookup(token, "alice") == nil {
			t.Fatal("the reservation lapsed early")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if s.lookup(token, "alice") != nil {
			t.Error("an unopened reservation outlived sseReserveTTL")
		}
		if code, _ := reserve("alice"); code != http.StatusCreated {
			t.Errorf("after the lapse: %d, want 201", code)
		}
	})
}

// A stream that falls sseMaxQueued events behind is ended (its client
// reconnects and subscribes again) rather than holding memory without
// bound.
func TestSSESlowStreamIsEnded(t *testing.T) {
	t.Parallel()
	ended := false
	q := newEventQueue(func() { ended = true })
	for range sseMaxQueued {
		q.push([]byte("event: next\ndata: {}\n\n"))
	}
	if ended {
		t.Fatal("ended at the limit, not past it")
	}
	q.push([]byte("event: next\ndata: {}\n\n"))
	if evs, _ := q.take(); !ended || len(evs) != sseMaxQueued {
		t.Errorf("ended = %v with %d queued, want ended with %d", ended, len(evs), sseMaxQueued)
	}
}
