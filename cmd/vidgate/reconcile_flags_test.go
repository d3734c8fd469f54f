package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The reconciler's periods come from flags or the environment, default to
// the reconciler's own defaults, and must be positive.
func TestReconcileFlags(t *testing.T) {
	t.Setenv("VIDGATE_RECONCILE_STALE_AFTER", "90s")
	var c config
	fs := newFlagSet("worker", "", io.Discard)
	c.register(fs, roleWorker)
	if err := fs.parse([]string{"--reconcile-interval", "500ms"}); err != nil {
		t.Fatal(err)
	}
	if c.ReconcileInterval != 500*time.Millisecond || c.ReconcileStaleAfter != 90*time.Second || c.ReconcileQueuedAfter != time.Minute ||
		c.ReconcileSubmitAfter != 2*time.Minute || c.ReconcileCancelWindow != time.Hour || c.ReconcileLease != 30*time.Second {
		t.Errorf("reconciler periods %v %v %v %v %v %v", c.ReconcileInterval, c.ReconcileStaleAfter, c.ReconcileQueuedAfter,
			c.ReconcileSubmitAfter, c.ReconcileCancelWindow, c.ReconcileLease)
	}
	if err := c.check(roleWorker); err != nil && strings.Contains(err.Error(), "--reconcile-") {
		t.Errorf("check: %v", err)
	}
	c.ReconcileLease = 0
	if err := c.check(roleWorker); err == nil || !strings.Contains(err.Error(), "--reconcile-lease 0s: want a positive duration") {
		t.Errorf("check with --reconcile-lease 0: %v", err)
	}
}

// The outbox relay's interval and grace come from flags or the environment,
// default to jobs.RelayConfig's defaults, and must be positive.
func TestOutboxFlags(t *testing.T) {
	t.Setenv("VIDGATE_OUTBOX_GRACE", "500ms")
	var c config
	fs := newFlagSet("worker", "", io.Discard)
	c.register(fs, roleWorker)
	if err := fs.parse([]string{"--outbox-interval", "250ms"}); err != nil {
		t.Fatal(err)
	}
	if c.OutboxInterval != 250*time.Millisecond || c.OutboxGrace != 500*time.Millisecond {
		t.Errorf("outbox interval %v, grace %v; want 250ms, 500ms", c.OutboxInterval, c.OutboxGrace)
	}
	var d config
	d.register(newFlagSet("worker", "", io.Discard), roleWorker)
	if d.OutboxInterval != time.Second || d.OutboxGrace != 2*time.Second {
		t.Errorf("defaults: interval %v, grace %v; want 1s, 2s", d.OutboxInterval, d.OutboxGrace)
	}
	c.OutboxGrace = 0
	if err := c.check(roleWorker); err == nil || !strings.Contains(err.Error(), "--outbox-grace 0s: want a positive duration") {
		t.Errorf("check with --outbox-grace 0: %v", err)
	}
}
