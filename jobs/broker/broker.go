package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vidgate/vidgate/jobs/keyspace"
)

var (
	// ErrClosed is returned by Next once the subscription is closed or its
	// Broker has stopped, and by Subscribe and Run once the Broker has
	// stopped.
	ErrClosed = errors.New("broker: closed")
	// ErrSlowConsumer ends a subscription whose reader fell more than
	// Config.Buffer distinct keys behind. Its updates are dropped: the client
	// should subscribe again and start from the current state.
	ErrSlowConsumer = errors.New("broker: slow consumer")
	// ErrGap is returned once by Next after the Redis connection was lost
	// and the subscription's channel subscribed again: updates published in
	// between are lost, so the caller re-reads the current state.
	ErrGap = errors.New("broker: updates may have been lost")
	// ErrRunning is returned by Run while another Run of the same Broker is
	// going on.
	ErrRunning = errors.New("broker: already running")
)

// Message is one update about one key.
type Message struct {
	// Key names what the update is about, e.g. a job's public id. Updates
	// for the same key supersede each other.
	Key string
	// Version strictly increases per key: a subscription never returns a
	// version at or below one it already returned (or was told of by Seen)
	// for that key.
	Version int64
	// Payload is the whole status, as JSON, so that no subscriber reads the
	// database per message. Every subscription of a channel shares the same
	// bytes: do not modify them.
	Payload json.RawMessage
}

// envelope is a Message as published: one JSON object. Its fields are
// Message's, so that each converts to the other.
type envelope struct {
	Key     string          `json:"k"`
	Version int64           `json:"v"`
	Payload json.RawMessage `json:"p"`
}

// Config configures a Broker. The zero value is usable.
type Config struct {
	// Prefix starts every channel name, as Prefix + ":" + channel (e.g.
	// "vg:job:<id>", "vg:owner:<id>", "vg:review"; see jobs/keyspace).
	// Default "vg".
	Prefix string
	// Buffer is how many distinct keys a subscription may have pending
	// before it is ended with ErrSlowConsumer. Default 64.
	Buffer int
	// Logger receives connection losses and unreadable messages; default
	// slog.Default().
	Logger *slog.Logger
}

const (
	defaultBuffer = 64

	// pingEvery is how often Run pings the pub/sub connection; a connection
	// that has said nothing for 2*pingEvery is taken for dead (a network that
	// drops packets gives no error of its own).
	pingEvery = 15 * time.Second
	// backoffMin and backoffMax bound the wait before reconnecting; it
	// doubles after each failed attempt, with jitter.
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	// batch caps the channels of one SUBSCRIBE or UNSUBSCRIBE command.
	batch = 512
)

// Broker publishes messages and serves subscriptions over one Redis pub/sub
// connection. Its methods are safe for concurrent use. Subscriptions only
// receive while Run is running; once Run has returned the Broker is stopped
// for good.
type Broker struct {
	rdb    redis.UniversalClient
	keys   keyspace.Keyspace
	buffer int
	log    *slog.Logger

	// Timing of Run; tests shorten them.
	pingEvery              time.Duration
	backoffMin, backoffMax time.Duration

	running atomic.Bool
	// wake tells Run that topics are dirty (their SUBSCRIBE or UNSUBSCRIBE
	// is to be written).
	wake chan struct{}
	// done is closed when the Broker stops.
	done chan struct{}

	mu      sync.Mutex
	stopped bool
	topics  map[string]*topic // by Redis channel name, prefix included
	dirty   []*topic
	// conn counts pub/sub connections. It changes as soon as one is lost,
	// so the reader of a lost connection applies nothing more.
	conn uint64
	// onDrop, set by tests only, is called when a topic's state is
	// deleted.
	onDrop func()
}

// topic is the local state of one Redis channel. Every field is guarded by
// Broker.mu.
type topic struct {
	name string
	subs []*Subscription
	// sent is whether the last command written for the topic on the current
	// connection is SUBSCRIBE (rather than UNSUBSCRIBE, or none).
	sent bool
	// inflight counts commands written for the topic whose confirmation
	// has not been read yet.
	inflight int
	// confirmed is true once Redis confirmed the last SUBSCRIBE: messages
	// published from then on reach this process.
	confirmed bool
	// ready, made on demand, is closed when the topic is confirmed; the
	// Subscribe calls waiting for that wait on it.
	ready chan struct{}
	// dirty is whether the topic is in Broker.dirty.
	dirty bool
}

// New returns a Broker over rdb. Start Run before subscriptions are expected
// to receive.
func New(rdb redis.UniversalClient, cfg Config) *Broker {
	if cfg.Buffer <= 0 {
		cfg.Buffer = defaultBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Broker{
		rdb:        rdb,
		keys:       keyspace.New(cfg.Prefix),
		buffer:     cfg.Buffer,
		log:        cfg.Logger,
		pingEvery:  pingEvery,
		backoffMin: backoffMin,
		backoffMax: backoffMax,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		topics:     make(map[string]*topic),
	}
}

// Publish sends m to every subscriber of channel, in every process: a
// PUBLISH of one JSON envelope to Prefix:channel. It does not need Run.
func (b *Broker) Publish(ctx context.Context, channel string, m Message) error {
	if channel == "" {
		return errors.New("publish: empty channel name")
	}
	data, err := json.Marshal(envelope(m))
	if err != nil {
		return fmt.Errorf("publish %s: %w", channel, err)
	}
	if err := b.rdb.Publish(ctx, b.keys.Channel(channel), data).Err(); err != nil {
		return fmt.Errorf("publish %s: %w", channel, err)
	}
	return nil
}

// Subscribe starts a subscription to channel. It returns once Redis has
// confirmed this process's subscription to the channel (at once if another
// local subscription already holds it), so that every message published
// after it returns is received. It waits for Run to connect if need be; it
// returns ctx's error if ctx ends first, and ErrClosed if the Broker has
// stopped. Close the subscription when done.
func (b *Broker) Subscribe(ctx context.Context, channel string) (*Subscription, error) {
	return b.subscribe(ctx, channel, nil)
}

// SubscribeNotify is Subscribe for a reader that does not wait in Next:
// notify is called whenever TryNext may have something new to return (a
// message, ErrGap, or the end of the subscription), so that the reader
// needs no goroutine of its own while the subscription is idle. notify
// must not block and must not call back into the Broker or the
// Subscription: it runs with the Broker's locks held (typically it starts
// or signals a goroutine that calls TryNext until it reports nothing).
// Next must not be used on such a subscription.
func (b *Broker) SubscribeNotify(ctx context.Context, channel string, notify func()) (*Subscription, error) {
	if notify == nil {
		return nil, errors.New("subscribe: nil notify")
	}
	return b.subscribe(ctx, channel, notify)
}

func (b *Broker) subscribe(ctx context.Context, channel string, notify func()) (*Subscription, error) {
	if channel == "" {
		return nil, errors.New("subscribe: empty channel name")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", channel, err)
	}
	s := &Subscription{b: b, notify: notify}
	if notify == nil {
		s.wake = make(chan struct{}, 1)
	}
	name := b.keys.Channel(channel)

	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	t := b.topics[name]
	if t == nil {
		t = &topic{name: name}
		b.topics[name] = t
	}
	s.topic, s.idx = t, len(t.subs)
	t.subs = append(t.subs, s)
	var ready chan struct{}
	if !t.confirmed {
		if t.ready == nil {
			t.ready = make(chan struct{})
		}
		ready = t.ready
		if !t.sent {
			b.markDirty(t)
		}
	}
	b.mu.Unlock()

	if ready == nil {
		return s, nil
	}
	select {
	case <-ready:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("subscribe %s: %w", channel, ctx.Err())
	case <-b.done:
		s.Close()
		return nil, ErrClosed
	}
}

// markDirty queues t for Run to write the command its subscriber count
// calls for. b.mu is held.
func (b *Broker) markDirty(t *topic) {
	if t.dirty {
		return
	}
	t.dirty = true
	b.dirty = append(b.dirty, t)
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// detach takes s out of its topic, if it is in one; the topic's last
// subscriber leaving queues its UNSUBSCRIBE. b.mu is held.
func (b *Broker) detach(s *Subscription) {
	t := s.topic
	if t == nil {
		return
	}
	last := len(t.subs) - 1
	moved := t.subs[last]
	t.subs[s.idx], moved.idx = moved, s.idx
	t.subs[last] = nil
	t.subs = t.subs[:last]
	if len(t.subs) == 0 {
		t.subs = nil
	}
	s.topic, s.gapArmed = nil, false
	if len(t.subs) == 0 {
		if t.sent {
			b.markDirty(t)
		} else {
			b.drop(t)
		}
	}
}

// drop forgets t if it no longer matters: no subscriber, Redis not
// subscribed, no confirmation to wait for. If t is still in b.dirty, flush
// skips it. b.mu is held.
func (b *Broker) drop(t *topic) {
	if len(t.subs) == 0 && !t.sent && t.inflight == 0 && b.topics[t.name] == t {
		delete(b.topics, t.name)
		if b.onDrop != nil {
			b.onDrop()
		}
	}
}
