package gqlws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

type wakeKey struct{}

// Wake lets a subscription resolver drive delivery, so that the
// subscription holds no goroutine while it has nothing to send. Call it
// with the resolver's context only once the resolver is sure to return its
// channel (after every error return): ok means the transport takes results
// from the channel only when told to, and the resolver must call ready
// once after each value it sends on the channel, and once after it closes
// it. Each ready makes the transport receive exactly one value (or see the
// close) on a goroutine that runs only while there is something to
// deliver.
//
// The channel must be buffered (a capacity of one is enough): a send on an
// unbuffered channel would wait for a receive that only follows ready. A
// send blocks until the transport has taken the previous value, as with
// any channel, so the resolver must not send while holding anything the
// delivery needs, and should give up sending when its context ends. ok is
// false when the operation is not served by this transport (SSE, say) or
// Wake was called already: the resolver's channel is then read the usual
// way, by a goroutine waiting on it.
func Wake(ctx context.Context) (ready func(), ok bool) {
	o, _ := ctx.Value(wakeKey{}).(*operation)
	if o == nil || !o.claimed.CompareAndSwap(false, true) {
		return nil, false
	}
	return o.ready, true
}

// maxIDLength bounds an operation id (clients use UUIDs or counters); a
// longer one closes the connection with 4400.
const maxIDLength = 128

// operation is one subscribe (start) message's operation.
type operation struct {
	c  *conn
	id string

	// live ends when the operation does: the client stopped it, it
	// finished, or the connection closed. Set by start, on the reader.
	// Nothing is written for the operation once it has ended.
	live   context.Context
	cancel context.CancelFunc

	// Set by begin before any goroutine that delivers results exists.
	ctx       context.Context // DispatchOperation's, for the response handler
	rc        *graphql.OperationContext
	responses graphql.ResponseHandler

	claimed atomic.Bool  // the resolver called Wake
	pending atomic.Int64 // values (or the close) the resolver announced and the transport did not take yet
	busy    atomic.Bool  // a pump runs, or the operation is starting or over
	stopped atomic.Bool  // the client stopped it
}

// start runs the operation in the subscribe message with id; false ends
// the connection (the id is in use).
func (c *conn) start(id string, payload json.RawMessage) bool {
	c.mu.Lock()
	if _, dup := c.ops[id]; dup {
		c.mu.Unlock()
		c.closeWith(CloseSubscriberExists, "Subscriber for "+id+" already exists")
		return false
	}
	o := &operation{c: c, id: id}
	o.live, o.cancel = context.WithCancel(c.ctx)
	o.busy.Store(true) // until it has started
	if limit := c.maxOperations(); limit > 0 && len(c.ops) >= limit {
		c.mu.Unlock()
		o.fail(gqlerror.List{{
			Message:    fmt.Sprintf("this connection already runs %d operations: wait for one to end", limit),
			Extensions: map[string]any{"code": "RATE_LIMITED"},
		}})
		return true
	}
	c.ops[id] = o
	c.mu.Unlock()
	// Resolvers may read the database before they return: not on the
	// reader, which keeps answering pings and completes meanwhile.
	go o.begin(payload)
	return true
}

func (c *conn) maxOperations() int {
	if c.t.MaxOperations == 0 {
		return DefaultMaxOperations
	}
	return c.t.MaxOperations
}

func (o *operation) begin(payload json.RawMessage) {
	c := o.c
	defer func() {
		if v := recover(); v != nil {
			c.logPanic(v)
			o.fail(o.recovered(v))
		}
	}()
	start := graphql.Now()
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(params); err != nil {
		o.fail(gqlerror.List{{Message: "invalid json: the payload must be {query, variables, operationName}"}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	params.Headers = c.headers

	ctx := graphql.StartOperationTrace(o.live)
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			o.fail(resp.Errors)
			return
		}
		o.send(resp)
		o.finish()
		return
	}
	o.rc = rc
	ctx = context.WithValue(graphql.WithOperationContext(ctx, rc), wakeKey{}, o)
	o.responses, o.ctx = c.exec.DispatchOperation(ctx, rc)
	if !o.claimed.Load() {
		o.receiveAll()
		return
	}
	o.busy.Store(false)
	if o.pending.Load() > 0 || o.live.Err() != nil {
		o.schedule()
	}
}

// ready is what Wake hands the resolver.
func (o *operation) ready() {
	o.pending.Add(1)
	o.schedule()
}

func (o *operation) schedule() {
	if o.busy.CompareAndSwap(false, true) {
		go o.pump()
	}
}

// pump delivers what the resolver announced, then returns; at most one
// runs at a time. It finishes the operation once it has ended (a kick
// after the end is enough: the resolver need not say anything more).
// Once the operation is over, busy stays set.
func (o *operation) pump() {
	defer func() {
		if v := recover(); v != nil {
			o.c.logPanic(v)
			o.fail(o.recovered(v))
		}
	}()
	for {
		for o.live.Err() == nil && o.pending.Load() > 0 {
			o.pending.Add(-1)
			resp := o.responses(o.ctx)
			if resp == nil {
				o.finish()
				return
			}
			o.send(resp)
		}
		if o.live.Err() != nil {
			o.finish()
			return
		}
		o.busy.Store(false)
		if (o.pending.Load() == 0 && o.live.Err() == nil) || !o.busy.CompareAndSwap(false, true) {
			return
		}
	}
}

// receiveAll serves an operation whose resolver did not call Wake (queries,
// mutations, results that are errors): it waits on each result.
func (o *operation) receiveAll() {
	for {
		resp := o.responses(o.ctx)
		if resp == nil || o.live.Err() != nil {
			break
		}
		o.send(resp)
	}
	o.finish()
}

// stop is the client's complete (stop). The operation ends at once: its
// id is free again, nothing more is written for it, and on the legacy
// protocol the complete confirming the stop goes out now, before the id
// can be used again.
func (o *operation) stop() {
	o.stopped.Store(true)
	o.forget()
	o.cancel()
	if o.c.legacy {
		o.c.write(outMessage{ID: o.id, Type: "complete"})
	}
	o.kick()
}

// end ends the operation when its connection closes.
func (o *operation) end() {
	o.cancel()
	o.kick()
}

// kick lets a Wake operation that ended finish: its pump runs once more
// and sees the end. Other operations see it in their response handler.
func (o *operation) kick() {
	if o.claimed.Load() {
		o.schedule()
	}
}

func (o *operation) forget() {
	c := o.c
	c.mu.Lock()
	if c.ops[o.id] == o {
		delete(c.ops, o.id)
	}
	c.mu.Unlock()
}

// finish ends the operation after its last result: complete goes out,
// unless the client stopped it (the legacy protocol's complete went out
// then) or the connection is closing.
func (o *operation) finish() {
	o.forget()
	o.cancel()
	if o.silent() {
		return
	}
	o.c.write(outMessage{ID: o.id, Type: "complete"})
}

// fail ends the operation with an error message (which ends it on
// graphql-transport-ws; the legacy protocol gets a complete as well).
func (o *operation) fail(errs gqlerror.List) {
	o.busy.Store(true)
	o.forget()
	o.cancel()
	if o.silent() {
		return
	}
	o.c.write(outMessage{ID: o.id, Type: "error", Payload: errs})
	if o.c.legacy {
		o.c.write(outMessage{ID: o.id, Type: "complete"})
	}
}

// silent reports whether the operation's end goes unannounced: the client
// stopped it, its connection is closing, or the server is shutting down
// (what ends an operation then is the shutdown, not its last result; the
// client should subscribe again on a new connection).
func (o *operation) silent() bool {
	return o.stopped.Load() || o.c.ctx.Err() != nil || o.c.t.shuttingDown()
}

func (o *operation) recovered(v any) gqlerror.List {
	var err error
	if o.rc != nil && o.ctx != nil {
		err = o.rc.Recover(o.ctx, v)
	}
	var gqlErr *gqlerror.Error
	if !errors.As(err, &gqlErr) {
		gqlErr = &gqlerror.Error{Message: "internal system error"}
	}
	return gqlerror.List{gqlErr}
}

// send writes one result, next (graphql-transport-ws) or data (legacy),
// unless the operation has ended: checked under the write lock, so no
// result follows the client's complete, even one that was waiting to be
// written when it came.
func (o *operation) send(resp *graphql.Response) {
	c := o.c
	typ := "next"
	if c.legacy {
		typ = "data"
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if o.live.Err() != nil {
		return
	}
	_ = c.ws.WriteJSON(outMessage{ID: o.id, Type: typ, Payload: resp})
}
