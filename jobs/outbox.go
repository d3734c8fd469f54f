package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs/internal/crashpoint"
	"github.com/vidgate/vidgate/jobs/queue"
)

// OutboxTask is a row of task_outbox: a task written in the transaction of
// the change that calls for it, so that the change and its task commit or
// roll back together. After the commit the writer sends it to its stream
// at once and deletes the row (Relay's fast path); a row the writer could
// not send — Redis unreachable, or the process died between the commit and
// the XADD — is sent by a Relay's loop once it is older than the grace.
type OutboxTask struct {
	bun.BaseModel `bun:"table:task_outbox,alias:o"`

	ID      int64      `bun:"id,pk,autoincrement"`
	Kind    queue.Kind `bun:"kind,notnull"`
	JobID   int64      `bun:"job_id,notnull"`
	Attempt int        `bun:"attempt,notnull"`
	// Data is the task's data as a JSON object of strings (nil: none).
	Data *string `bun:"data"`
	// DueAt, when set, is the time the task is scheduled for
	// (queue.Queue.Schedule); nil means at once (queue.Queue.Enqueue).
	DueAt     *time.Time `bun:"due_at"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
}

// Task returns the queue task the row holds.
func (o *OutboxTask) Task() (queue.Task, error) {
	t := queue.Task{Kind: o.Kind, JobID: o.JobID, Attempt: o.Attempt}
	if o.Data != nil {
		if err := json.Unmarshal([]byte(*o.Data), &t.Data); err != nil {
			return t, fmt.Errorf("outbox row %d: data: %w", o.ID, err)
		}
	}
	return t, nil
}

// AddTask writes t to the outbox in db, to follow the change db's
// transaction makes: due at at (the zero time: at once). t's data gets the
// request id of ctx (TaskData). In a Store.Tx the task is sent after the
// commit; outside any transaction at once; in a transaction Store.Tx did
// not open, by a Relay's loop after its grace.
func (s *Store) AddTask(ctx context.Context, db bun.IDB, t queue.Task, at time.Time) error {
	if !t.Kind.Valid() {
		return fmt.Errorf("outbox: %q: %w", t.Kind, queue.ErrUnknownKind)
	}
	row := &OutboxTask{Kind: t.Kind, JobID: t.JobID, Attempt: t.Attempt, CreatedAt: s.Now()}
	if data := TaskData(ctx, t.Data); len(data) > 0 {
		b, _ := json.Marshal(data) // a map of strings always encodes
		row.Data = new(string)
		*row.Data = string(b)
	}
	if !at.IsZero() {
		due := at.UTC()
		row.DueAt = &due
	}
	if _, err := db.NewInsert().Model(row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("outbox: add %s task of job %d: %w", t.Kind, t.JobID, err)
	}
	if cs, ok := ctx.Value(changeSetKey{}).(*changeSet); ok {
		cs.tasks = append(cs.tasks, row)
	} else if _, inTx := db.(bun.Tx); !inTx {
		s.sendTasks(ctx, []*OutboxTask{row}) // autocommitted
	}
	return nil
}

// TransitionThen runs Transition t and, if it applies, writes task (due at
// at; zero: at once) to the outbox, in one transaction: the task is queued
// if and only if the change commits.
func (s *Store) TransitionThen(ctx context.Context, t Transition, task queue.Task, at time.Time) (*Job, error) {
	var job *Job
	err := s.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if job, err = s.Transition(ctx, tx, t); err != nil {
			return err
		}
		return s.AddTask(ctx, tx, task, at)
	})
	return job, err
}

// OutboxTasks returns the rows of the outbox, oldest first (for tests and
// operators: rows are normally gone within milliseconds).
func (s *Store) OutboxTasks(ctx context.Context) ([]*OutboxTask, error) {
	var rows []*OutboxTask
	if err := s.db.NewSelect().Model(&rows).OrderExpr("o.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	return rows, nil
}

// sendTasks hands the rows a commit just made durable to the store's
// relay, if it has one.
func (s *Store) sendTasks(ctx context.Context, rows []*OutboxTask) {
	if len(rows) > 0 && s.relay != nil {
		s.relay.sendNow(ctx, rows)
	}
}

// TaskQueue is where the outbox's tasks go; *queue.Queue implements it.
type TaskQueue interface {
	Enqueue(ctx context.Context, t queue.Task) (string, error)
	Schedule(ctx context.Context, t queue.Task, at time.Time) error
}

// RelayConfig configures a Relay. Zero fields take their defaults.
type RelayConfig struct {
	// Interval is the time between the loop's passes (default 1s).
	Interval time.Duration
	// Grace is how old a row must be before the loop sends it (default
	// 2s): younger rows are their writer's, which sends them right after
	// its commit. A task the writer could not send is on its stream
	// within Grace plus Interval of its commit, once Redis answers.
	Grace time.Duration
	// Batch caps the rows one pass reads (default 100); a full pass is
	// followed by another at once.
	Batch int
	// DeleteEvery is how long the rows the fast path sent wait to be
	// deleted together (default 20ms): one DELETE, and one commit, for
	// every task sent in that time instead of one per task. It must stay
	// well under Grace, or the loop sends those rows again (harmless, but
	// wasted).
	DeleteEvery time.Duration
	// OnPass, when set, hears of every pass of the loop: the rows it sent
	// and its error.
	OnPass func(sent int, err error)
	Logger *slog.Logger
}

func (c *RelayConfig) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 2 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.DeleteEvery <= 0 {
		c.DeleteEvery = 20 * time.Millisecond
	}
	if c.OnPass == nil {
		c.OnPass = func(int, error) {}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Relay moves the outbox's tasks to the queue.
//
// Every process that writes tasks has one (NewRelay attaches it to the
// store): after each commit it sends the commit's tasks at once and deletes
// their rows — the fast path, as quick as the enqueue after the commit it
// replaces. Every worker process also runs its loop (Run), which sends the
// rows the fast path left behind. The loop runs in every worker rather
// than under the reconciler's lease: on PostgreSQL the rows a pass sends
// are locked with FOR UPDATE SKIP LOCKED, so concurrent relays share the
// rows instead of contending for them, and no task waits for a leader to
// be elected when the leading process dies (a lease lasts 30 s; the grace
// is 2 s). On SQLite one process writes at a time: a pass reads its rows
// with a plain select, and sends them outside any transaction, so Redis
// being slow never holds the database's one write lock.
//
// A task can reach its stream twice (a pass sends a row whose writer's
// delete had not yet landed, or a process dies between an XADD and the
// delete); the worker's guards make a duplicate a no-op, as they do for a
// task the queue delivers twice.
type Relay struct {
	store *Store
	queue TaskQueue
	cfg   RelayConfig
	log   *slog.Logger

	mu       sync.Mutex
	sent     []int64    // rows the fast path sent, not yet deleted
	flushing bool       // a goroutine deletes sent every DeleteEvery
	flushMu  sync.Mutex // one Flush at a time: when it returns, what was sent before it is deleted
}

// NewRelay returns the relay from store's outbox to q and attaches it to
// store, whose commits then send their tasks at once (a store has one
// relay: the last attached).
func NewRelay(store *Store, q TaskQueue, cfg RelayConfig) *Relay {
	cfg.defaults()
	r := &Relay{store: store, queue: q, cfg: cfg, log: cfg.Logger.With("component", "outbox")}
	store.relay = r
	return r
}

// sendNow is the fast path: it sends rows just committed, and has those
// it sent deleted within DeleteEvery. What it cannot send stays for the
// loop.
func (r *Relay) sendNow(ctx context.Context, rows []*OutboxTask) {
	ctx = context.WithoutCancel(ctx) // committed: the caller leaving changes nothing
	crashpoint.At("outbox.before-send")
	sent, err := r.send(ctx, rows)
	if err != nil {
		r.log.WarnContext(ctx, "queue a task after its commit; the outbox relay sends it", "err", err)
	}
	if len(sent) == 0 {
		return
	}
	r.mu.Lock()
	r.sent = append(r.sent, sent...)
	start := !r.flushing
	r.flushing = true
	r.mu.Unlock()
	if start {
		go r.deleteSent()
	}
}

// deleteSent deletes the rows the fast path sent, every DeleteEvery, until
// none are left.
func (r *Relay) deleteSent() {
	for {
		time.Sleep(r.cfg.DeleteEvery) // let the rows sent meanwhile join this DELETE
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := r.Flush(ctx); err != nil {
			r.log.WarnContext(ctx, "delete sent outbox rows; the relay sends them again", "err", err)
		}
		cancel()
		r.mu.Lock()
		if len(r.sent) == 0 {
			r.flushing = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// Flush deletes the rows the fast path sent at once, rather than within
// DeleteEvery: at shutdown, and before each of the loop's passes. Rows it
// fails to delete are sent again by the loop (a duplicate the worker's
// guards drop).
func (r *Relay) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	ids := r.sent
	r.sent = nil
	r.mu.Unlock()
	if err := r.delete(ctx, r.store.db, ids); err != nil {
		return fmt.Errorf("outbox: delete %d sent rows: %w", len(ids), err)
	}
	return nil
}

// send puts rows on the queue in order, stopping at the first failure, and
// returns the ids of the rows sent. A row that cannot be decoded is
// counted as sent (and so deleted): no pass could ever send it.
func (r *Relay) send(ctx context.Context, rows []*OutboxTask) ([]int64, error) {
	ids := make([]int64, 0, len(rows))
	for _, row := range rows {
		t, err := row.Task()
		if err != nil {
			r.log.ErrorContext(ctx, "outbox row dropped", "err", err)
			ids = append(ids, row.ID)
			continue
		}
		if row.DueAt != nil {
			err = r.queue.Schedule(ctx, t, *row.DueAt)
		} else {
			_, err = r.queue.Enqueue(ctx, t)
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, row.ID)
	}
	return ids, nil
}

func (r *Relay) delete(ctx context.Context, db bun.IDB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.NewDelete().Model((*OutboxTask)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx)
	return err
}

// Run sends the rows older than the grace every Interval until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for {
			n, err := r.RelayOnce(ctx)
			r.cfg.OnPass(n, err)
			if err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "outbox relay pass", "sent", n, "err", err)
			}
			if err != nil || n < r.cfg.Batch {
				break
			}
		}
	}
}

// RelayOnce sends up to Batch rows older than the grace, oldest first,
// deletes those it sent, and returns how many it sent. It first deletes
// the rows the fast path sent (Flush), so as not to send them again.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	if err := r.Flush(ctx); err != nil {
		return 0, err
	}
	cutoff := r.store.Now().Add(-r.cfg.Grace)
	pick := func(db bun.IDB, rows *[]*OutboxTask) *bun.SelectQuery {
		return db.NewSelect().Model(rows).Where("o.created_at <= ?", cutoff).OrderExpr("o.created_at, o.id").Limit(int64(r.cfg.Batch))
	}
	var sent []int64
	var sendErr error
	if !IsPostgres(r.store.db) {
		var rows []*OutboxTask
		if err := pick(r.store.db, &rows).Scan(ctx); err != nil {
			return 0, fmt.Errorf("outbox: read: %w", err)
		}
		sent, sendErr = r.send(ctx, rows)
		if err := r.delete(ctx, r.store.db, sent); err != nil {
			return 0, errors.Join(sendErr, fmt.Errorf("outbox: delete: %w", err))
		}
		return len(sent), sendErr
	}
	err := r.store.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var rows []*OutboxTask
		if err := pick(tx, &rows).For("UPDATE SKIP LOCKED").Scan(ctx); err != nil {
			return fmt.Errorf("outbox: read: %w", err)
		}
		sent, sendErr = r.send(ctx, rows)
		if err := r.delete(ctx, tx, sent); err != nil {
			return fmt.Errorf("outbox: delete: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, errors.Join(sendErr, err)
	}
	return len(sent), sendErr
}
