package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server/auth"
)

// The graphql-sse protocol's single connection mode (the graphql-sse
// client's singleConnection: true): one event stream carries the results of
// many operations.
//
//	PUT    /graphql                       reserves a stream: 201, the token as text/plain
//	GET    /graphql (token, Accept: text/event-stream)
//	                                      opens the reserved stream
//	POST   /graphql (token, JSON body with extensions.operationId)
//	                                      runs an operation: 202; its results are "next"
//	                                      events {"id", "payload"} on the stream, then a
//	                                      "complete" event {"id"}
//	DELETE /graphql?operationId=… (token) stops an operation: 200
//
// The token travels in the x-graphql-event-stream-token header (or the
// token URL parameter). A reservation belongs to the identity that made it:
// another identity's token is NOT_FOUND. A reservation not opened within
// sseReserveTTL lapses, and one ends with its stream, stopping its
// operations. Request errors (a document that does not parse or validate)
// come as a "next" event with errors, like any result; a request that is
// not GraphQL over HTTP is 400 BAD_REQUEST.
type sseSingle struct {
	// maxOps caps the operations one stream runs at once
	// (Config.MaxSubscriptions); one more is 429 RATE_LIMITED.
	maxOps int
	// keys ends a stream with a credential it serves (see stream).
	keys *keyWatch

	mu       sync.Mutex
	reserved map[string]*sseReservation
}

const (
	sseTokenHeader = "X-Graphql-Event-Stream-Token"
	sseTokenParam  = "token"
	// sseReserveTTL is how long a reservation waits for its stream.
	sseReserveTTL = time.Minute
	// sseMaxReserved caps one identity's reservations that have no stream.
	sseMaxReserved = 8
	// ssePingInterval is how often an idle stream gets a comment, which
	// keeps proxies from closing it.
	ssePingInterval = 12 * time.Second
	// sseMaxQueued caps the events waiting for a slow stream; past it the
	// stream is ended and the client reconnects.
	sseMaxQueued = 1024
)

const errStreamEnded = "the event stream of this token has ended: reserve another with PUT /graphql"

// sseReservation is one reserved stream and the operations it carries.
type sseReservation struct {
	subject string
	expiry  *time.Timer

	events *eventQueue

	mu     sync.Mutex
	open   bool
	ended  bool
	ops    map[string]context.CancelFunc
	cancel context.CancelFunc // ends the stream
}

func newSSESingle(maxOps int, keys *keyWatch) *sseSingle {
	return &sseSingle{maxOps: maxOps, keys: keys, reserved: map[string]*sseReservation{}}
}

func sseToken(r *http.Request) string {
	if t := r.Header.Get(sseTokenHeader); t != "" {
		return t
	}
	return r.URL.Query().Get(sseTokenParam)
}

// Supports claims the requests of single connection mode: PUT, DELETE, and
// GET or POST with a stream token.
func (s *sseSingle) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	switch r.Method {
	case http.MethodPut, http.MethodDelete:
		return true
	case http.MethodGet, http.MethodPost:
		return sseToken(r) != ""
	}
	return false
}

func (s *sseSingle) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	subject := auth.ActorFrom(r.Context()).Subject
	if r.Method == http.MethodPut {
		s.reserve(w, subject)
		return
	}
	res := s.lookup(sseToken(r), subject)
	if res == nil {
		writeError(w, http.StatusNotFound, string(jobs.CodeNotFound),
			"no event stream is reserved with this token: reserve one with PUT /graphql (it lapses after "+sseReserveTTL.String()+" unopened, and ends with its stream)")
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.stream(w, r, sseToken(r), res)
	case http.MethodPost:
		s.operate(w, r, res, exec)
	case http.MethodDelete:
		opID := r.URL.Query().Get("operationId")
		if opID == "" {
			writeError(w, http.StatusBadRequest, codeBadRequest, "operationId is missing: DELETE /graphql?operationId=…")
			return
		}
		res.stop(opID)
		w.WriteHeader(http.StatusOK)
	}
}

func (s *sseSingle) reserve(w http.ResponseWriter, subject string) {
	b := make([]byte, 18)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	pending := 0
	for _, res := range s.reserved {
		if res.subject == subject && !res.isOpen() {
			pending++
		}
	}
	if pending >= sseMaxReserved {
		s.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, string(jobs.CodeRateLimited),
			"this identity already holds "+strconv.Itoa(sseMaxReserved)+" event stream reservations that are not open: open or let them lapse first")
		return
	}
	res := &sseReservation{subject: subject, ops: map[string]context.CancelFunc{}}
	res.events = newEventQueue(func() { // too far behind: end the stream
		res.mu.Lock()
		defer res.mu.Unlock()
		if res.cancel != nil {
			res.cancel()
		}
	})
	res.expiry = time.AfterFunc(sseReserveTTL, func() {
		if !res.isOpen() {
			s.release(token, res)
		}
	})
	s.reserved[token] = res
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(token))
}

// lookup finds the reservation of token made by subject.
func (s *sseSingle) lookup(token, subject string) *sseReservation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res := s.reserved[token]; res != nil && res.subject == subject {
		return res
	}
	return nil
}

// release forgets token's reservation and stops its operations.
func (s *sseSingle) release(token string, res *sseReservation) {
	s.mu.Lock()
	if s.reserved[token] == res {
		delete(s.reserved, token)
	}
	s.mu.Unlock()
	res.expiry.Stop()
	res.events.close()
	res.mu.Lock()
	res.ended = true
	ops := res.ops
	res.ops = map[string]context.CancelFunc{}
	res.mu.Unlock()
	for _, cancel := range ops {
		cancel()
	}
}

// stream serves the reserved event stream until the client goes away, the
// server shuts down, or the stream falls too far behind.
func (s *sseSingle) stream(w http.ResponseWriter, r *http.Request, token string, res *sseReservation) {
	flusher := streamFlusher(w)
	if flusher == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res.mu.Lock()
	if res.open || res.ended {
		open := res.open
		res.mu.Unlock()
		if open {
			writeError(w, http.StatusConflict, string(jobs.CodeConflict), "the event stream of this token is already open")
		} else {
			writeError(w, http.StatusNotFound, string(jobs.CodeNotFound), errStreamEnded)
		}
		return
	}
	res.open, res.cancel = true, cancel
	res.mu.Unlock()
	defer s.release(token, res)
	defer s.keys.untilCredentialEnds(r.Context(), res.credentialEnded)()

	startEventStream(w, flusher)
	res.events.pump(ctx, w, flusher)
}

// operate starts the operation of a POST on res's stream and answers 202.
func (s *sseSingle) operate(w http.ResponseWriter, r *http.Request, res *sseReservation, exec graphql.GraphExecutor) {
	var params requestParams
	if _, err := paramsFromBody(r.Body, &params); err != nil {
		refuse(w, r, exec, err)
		return
	}
	opID, _ := params.Extensions["operationId"].(string)
	if opID == "" || len(opID) > 128 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "extensions.operationId must be a string of 1 to 128 bytes")
		return
	}
	// The operation outlives this request: it runs until it completes, is
	// stopped (DELETE) or its stream ends, with this request's identity.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	switch res.start(opID, cancel, s.maxOps) {
	case http.StatusConflict:
		cancel()
		writeError(w, http.StatusConflict, string(jobs.CodeConflict), "an operation with this operationId is running on the stream")
		return
	case http.StatusTooManyRequests:
		cancel()
		writeError(w, http.StatusTooManyRequests, string(jobs.CodeRateLimited),
			"the stream runs "+strconv.Itoa(s.maxOps)+" operations already: stop one first")
		return
	case http.StatusGone:
		cancel()
		writeError(w, http.StatusNotFound, string(jobs.CodeNotFound), errStreamEnded)
		return
	}
	results := runOperation(ctx, exec, params.raw(r.Header))
	// The operation's own credential ends the stream too.
	stopWatch := s.keys.untilCredentialEnds(r.Context(), res.credentialEnded)
	go func() {
		defer res.finish(opID)
		defer cancel()
		defer stopWatch()
		for result := range results {
			res.send(opID, result)
		}
	}()
	w.WriteHeader(http.StatusAccepted)
}

func (res *sseReservation) isOpen() bool {
	res.mu.Lock()
	defer res.mu.Unlock()
	return res.open
}

// start registers operation opID, or says why not: 409 for an id in use,
// 429 over max, 410 for a reservation that has ended.
func (res *sseReservation) start(opID string, cancel context.CancelFunc, max int) int {
	res.mu.Lock()
	defer res.mu.Unlock()
	switch {
	case res.ended:
		return http.StatusGone
	case res.ops[opID] != nil:
		return http.StatusConflict
	case len(res.ops) >= max:
		return http.StatusTooManyRequests
	}
	res.ops[opID] = cancel
	return http.StatusAccepted
}

// stop ends operation opID; its stream gets no more events from it but its
// "complete".
func (res *sseReservation) stop(opID string) {
	res.mu.Lock()
	cancel := res.ops[opID]
	res.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// credentialEnded ends the stream when a credential it serves ends: each
// running operation gets a last "next" event with an UNAUTHENTICATED error,
// and the stream closes with no "complete" events. graphql-sse clients take
// a stream that closes under running operations for a network failure: they
// reserve a new stream and run the operations again, with their headers
// option called again (a function there supplies a fresh token).
func (res *sseReservation) credentialEnded(why string) {
	res.mu.Lock()
	var last [][]byte
	for opID := range res.ops {
		last = append(last, opNext(opID, credentialEnded(why)))
	}
	res.mu.Unlock()
	res.events.end(last...) // the stream writes them, then ends; its end stops the operations
}

// finish sends opID's "complete" and forgets it.
func (res *sseReservation) finish(opID string) {
	b, _ := json.Marshal(map[string]string{"id": opID})
	res.events.push([]byte(fmt.Sprintf("event: complete\ndata: %s\n\n", b)))
	res.mu.Lock()
	delete(res.ops, opID)
	res.mu.Unlock()
}

// send queues one result of opID as a "next" event.
func (res *sseReservation) send(opID string, result any) { res.events.push(opNext(opID, result)) }

// opNext is the "next" event of one result of operation opID.
func opNext(opID string, result any) []byte {
	return sseNext(struct {
		ID      string `json:"id"`
		Payload any    `json:"payload"`
	}{opID, result})
}

// eventQueue holds the events of a stream until its writer (pump) takes
// them, so that operations never wait for a client.
type eventQueue struct {
	wake     chan struct{} // one pending wake-up for the writer
	overflow func()        // called once more than sseMaxQueued events wait

	mu     sync.Mutex
	queue  [][]byte
	closed bool
}

func newEventQueue(overflow func()) *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), overflow: overflow}
}

// push queues ev; after close it is dropped, and past sseMaxQueued waiting
// events the stream is too far behind: overflow.
func (q *eventQueue) push(ev []byte) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.queue) >= sseMaxQueued {
		q.mu.Unlock()
		q.overflow()
		return
	}
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	q.signal()
}

// close ends the queue: the writer writes what waits, then stops.
func (q *eventQueue) close() { q.end() }

// end queues last and closes the queue, at once: nothing pushed after
// comes between them. After close, last is dropped.
func (q *eventQueue) end(last ...[]byte) {
	q.mu.Lock()
	if !q.closed {
		q.queue = append(q.queue, last...)
	}
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take hands the writer every waiting event, and whether the queue is
// closed.
func (q *eventQueue) take() ([][]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.queue
	q.queue = nil
	return evs, q.closed
}

// pump writes q's events to an event stream as they come, and a comment
// every ssePingInterval, which keeps proxies from closing an idle stream,
// until q is closed and drained, ctx ends or a write fails.
func (q *eventQueue) pump(ctx context.Context, w http.ResponseWriter, flusher http.Flusher) {
	ping := time.NewTicker(ssePingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if _, err := w.Write([]byte(":\n\n")); err != nil {
				return
			}
		case <-q.wake:
			evs, closed := q.take()
			for _, ev := range evs {
				if _, err := w.Write(ev); err != nil {
					return
				}
			}
			if closed {
				flusher.Flush()
				return
			}
		}
		flusher.Flush()
	}
}
