package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
)

func auditEntries(t *testing.T, s *jobs.Store, f jobs.AuditFilter) []*jobs.AuditEntry {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 100
	}
	es, err := s.ListAudit(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestAuditService(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		store := jobs.NewStore(db, nil)
		svc, err := jobs.NewService(store, jobstest.Vault(t), jobs.ServiceConfig{Providers: []string{"sim"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := jobs.WithClient(jobs.WithRequestID(context.Background(), "req-1"), jobs.Client{IP: "203.0.113.9", UserAgent: "test-agent/" + strings.Repeat("x", 400)})
		alice := jobs.Actor{Subject: "alice", Role: jobs.RoleUser}
		rita := jobs.Actor{Subject: "rita", Role: jobs.RoleReviewer}
		const secretPrompt = "the secret prompt about a lighthouse"
		create := func() *jobs.Job {
			j, _, err := svc.CreateJob(ctx, alice, jobs.CreateInput{WorkflowType: jobs.TextToVideo, Prompt: secretPrompt})
			if err != nil {
				t.Fatal(err)
			}
			return j
		}
		approved, rejected, canceled := create(), create(), create()
		jobstest.Complete(t, store, approved.ID)
		jobstest.Complete(t, store, rejected.ID)
		if _, err := svc.Review(ctx, rita, approved.PublicID, jobs.ReviewInput{Decision: jobs.DecisionApproved}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Review(ctx, rita, rejected.PublicID, jobs.ReviewInput{Decision: jobs.DecisionRejected,
			Reasons: []jobs.Reason{jobs.ReasonOther}, Note: "note with the secret prompt about a lighthouse"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Cancel(ctx, alice, canceled.PublicID); err != nil {
			t.Fatal(err)
		}
		retried, err := svc.Retry(ctx, alice, canceled.PublicID)
		if err != nil {
			t.Fatal(err)
		}
		// A refused action writes nothing.
		if _, err := svc.Cancel(ctx, rita, canceled.PublicID); jobs.CodeOf(err) != jobs.CodeNotFound {
			t.Fatalf("Cancel(reviewer) error = %v, want NOT_FOUND", err)
		}
		if _, err := svc.Review(ctx, rita, approved.PublicID, jobs.ReviewInput{Decision: jobs.DecisionApproved}); jobs.CodeOf(err) != jobs.CodeConflict {
			t.Fatalf("Review(approved again) error = %v, want CONFLICT", err)
		}

		tests := []struct {
			action jobs.AuditAction
			actor  string
			role   string
			target string
		}{
			{jobs.AuditJobApprove, "rita", "reviewer", approved.PublicID},
			{jobs.AuditJobReject, "rita", "reviewer", rejected.PublicID},
			{jobs.AuditJobCancel, "alice", "user", canceled.PublicID},
			{jobs.AuditJobRetry, "alice", "user", canceled.PublicID},
		}
		all := auditEntries(t, store, jobs.AuditFilter{})
		if len(all) != len(tests) {
			t.Fatalf("ListAudit = %d entries, want %d", len(all), len(tests))
		}
		for _, tt := range tests {
			es := auditEntries(t, store, jobs.AuditFilter{Action: string(tt.action)})
			if len(es) != 1 {
				t.Fatalf("ListAudit(action %s) = %d entries, want 1", tt.action, len(es))
			}
			e := es[0]
			if e.ActorSubject != tt.actor || e.ActorRole != tt.role || e.TargetKind != "job" || e.TargetID != tt.target {
				t.Errorf("entry %s = %s/%s on %s %s, want %s/%s on job %s", tt.action, e.ActorSubject, e.ActorRole, e.TargetKind, e.TargetID, tt.actor, tt.role, tt.target)
			}
			if e.ClientIP == nil || *e.ClientIP != "203.0.113.9" || e.RequestID == nil || *e.RequestID != "req-1" {
				t.Errorf("entry %s ip/request = %v/%v, want 203.0.113.9/req-1", tt.action, e.ClientIP, e.RequestID)
			}
			if e.UserAgent == nil || len(*e.UserAgent) != jobs.MaxUserAgentLength || !strings.HasPrefix(*e.UserAgent, "test-agent/") {
				t.Errorf("entry %s user agent = %v, want the first %d bytes", tt.action, e.UserAgent, jobs.MaxUserAgentLength)
			}
			if e.Detail != nil && (strings.Contains(*e.Detail, "lighthouse") || !json.Valid([]byte(*e.Detail))) {
				t.Errorf("entry %s detail = %s: want JSON without prompt or note", tt.action, *e.Detail)
			}
		}
		retry := auditEntries(t, store, jobs.AuditFilter{Action: string(jobs.AuditJobRetry)})[0]
		if retry.Detail == nil || !strings.Contains(*retry.Detail, retried.PublicID) {
			t.Errorf("retry detail = %v, want the new job %s", retry.Detail, retried.PublicID)
		}
		if got := auditEntries(t, store, jobs.AuditFilter{Actor: "rita"}); len(got) != 2 {
			t.Errorf("ListAudit(actor rita) = %d entries, want 2", len(got))
		}
		if got := auditEntries(t, store, jobs.AuditFilter{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
			t.Errorf("ListAudit(since an hour ahead) = %d entries, want 0", len(got))
		}

		// Reading: admins only; pages walk newest first with cursors.
		admin := jobs.Actor{Subject: "ada", Role: jobs.RoleAdmin}
		for _, a := range []jobs.Actor{alice, rita} {
			if _, err := svc.AuditLog(ctx, a, jobs.AuditInput{First: 10}); jobs.CodeOf(err) != jobs.CodeForbidden {
				t.Errorf("AuditLog(%s) error = %v, want FORBIDDEN", a.Role, err)
			}
		}
		p1, err := svc.AuditLog(ctx, admin, jobs.AuditInput{First: 3})
		if err != nil || len(p1.Entries) != 3 || !p1.HasNext || p1.Entries[0].Action != string(jobs.AuditJobRetry) {
			t.Fatalf("AuditLog(first 3) = %+v, %v; want 3 newest with more", p1, err)
		}
		p2, err := svc.AuditLog(ctx, admin, jobs.AuditInput{First: 3, After: jobs.AuditCursor(p1.Entries[2])})
		if err != nil || len(p2.Entries) != 1 || p2.HasNext || p2.Entries[0].Action != string(jobs.AuditJobApprove) {
			t.Fatalf("AuditLog(page 2) = %+v, %v; want the approve entry, last", p2, err)
		}
		if _, err := svc.AuditLog(ctx, admin, jobs.AuditInput{First: 3, After: "bogus"}); jobs.CodeOf(err) != jobs.CodeBadUserInput {
			t.Errorf("AuditLog(bad cursor) error = %v, want BAD_USER_INPUT", err)
		}
	})
}

func TestAuditAPIKeysAndRollback(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		store := jobs.NewStore(db, nil)
		ctx := context.Background()
		key, k, err := store.CreateAPIKey(ctx, "partner-1", jobs.RoleUser, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.RevokeAPIKey(jobs.WithAuditActor(ctx, jobs.Actor{Subject: "ops", Role: jobs.RoleAdmin}), key); err != nil {
			t.Fatal(err)
		}
		if err := store.RevokeAPIKey(ctx, "nosuchkey"); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("RevokeAPIKey(unknown) = %v, want ErrNotFound", err)
		}
		secret := strings.SplitN(key, "_", 3)[2]
		cli := jobs.CLIActor()
		tests := []struct {
			action      jobs.AuditAction
			actor, role string
		}{
			{jobs.AuditAPIKeyCreate, cli.Subject, "cli"},
			{jobs.AuditAPIKeyRevoke, "ops", "admin"},
		}
		for _, tt := range tests {
			es := auditEntries(t, store, jobs.AuditFilter{Action: string(tt.action)})
			if len(es) != 1 {
				t.Fatalf("ListAudit(%s) = %d entries, want 1", tt.action, len(es))
			}
			e := es[0]
			if e.ActorSubject != tt.actor || e.ActorRole != tt.role || e.TargetKind != "api_key" || e.TargetID != k.Prefix {
				t.Errorf("entry %s = %+v, want %s/%s on api_key %s", tt.action, e, tt.actor, tt.role, k.Prefix)
			}
			if e.Detail == nil || strings.Contains(*e.Detail, secret) || strings.Contains(*e.Detail, k.SecretHash) {
				t.Errorf("entry %s detail = %v: must hold neither the key nor its hash", tt.action, e.Detail)
			}
		}
		if !strings.Contains(cli.Subject, "@") {
			t.Errorf("CLIActor() = %q, want user@host", cli.Subject)
		}

		// An audit row written in a transaction that rolls back is gone with it.
		boom := errors.New("boom")
		err = store.Tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := store.AppendAudit(ctx, tx, jobs.AuditRecord{Actor: cli, Action: "key.rotate", TargetKind: "api_key", TargetID: "x"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want boom", err)
		}
		if got := auditEntries(t, store, jobs.AuditFilter{Action: "key.rotate"}); len(got) != 0 {
			t.Errorf("entries after rollback = %d, want 0", len(got))
		}
		// On its own (nil db) it commits; incomplete records are refused.
		if err := store.AppendAudit(ctx, nil, jobs.AuditRecord{Actor: cli, Action: "key.rotate", TargetKind: "api_key", TargetID: "x"}); err != nil {
			t.Fatal(err)
		}
		if got := auditEntries(t, store, jobs.AuditFilter{Action: "key.rotate"}); len(got) != 1 {
			t.Errorf("entries after AppendAudit(nil db) = %d, want 1", len(got))
		}
		if err := store.AppendAudit(ctx, nil, jobs.AuditRecord{Actor: cli, Action: "key.rotate"}); err == nil {
			t.Error("AppendAudit(no target) = nil, want an error")
		}
		big := map[string]any{"x": strings.Repeat("y", jobs.MaxAuditDetailBytes)}
		if err := store.AppendAudit(ctx, nil, jobs.AuditRecord{Actor: cli, Action: "key.rotate", TargetKind: "api_key", TargetID: "x", Detail: big}); err == nil {
			t.Error("AppendAudit(oversized detail) = nil, want an error")
		}
	})
}

// TestAuditLogRefusesChanges: the database itself refuses to update,
// delete or truncate audit rows (migration 000007), on both backends; the
// rows are unchanged after each attempt.
func TestAuditLogRefusesChanges(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		store := jobs.NewStore(db, nil)
		ctx := context.Background()
		cli := jobs.CLIActor()
		if err := store.AppendAudit(ctx, nil, jobs.AuditRecord{Actor: cli, Action: "key.rotate", TargetKind: "api_key", TargetID: "k1"}); err != nil {
			t.Fatal(err)
		}
		attempts := []string{
			`UPDATE audit_log SET action = 'job.approve'`,
			`UPDATE audit_log SET detail = NULL WHERE target_id = 'k1'`,
			`DELETE FROM audit_log`,
			`DELETE FROM audit_log WHERE target_id = 'k1'`,
		}
		if db.Dialect().Name() == dialect.PG {
			attempts = append(attempts, `TRUNCATE audit_log`)
		}
		for _, q := range attempts {
			_, err := db.ExecContext(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s = %v, want refused (append-only)", q, err)
			}
		}
		es := auditEntries(t, store, jobs.AuditFilter{})
		if len(es) != 1 || es[0].Action != "key.rotate" || es[0].TargetID != "k1" {
			t.Errorf("audit rows after the attempts = %+v, want the one row as written", es)
		}
		// Appending still works.
		if err := store.AppendAudit(ctx, nil, jobs.AuditRecord{Actor: cli, Action: "key.rotate", TargetKind: "api_key", TargetID: "k2"}); err != nil {
			t.Fatalf("AppendAudit after the triggers = %v", err)
		}
	})
}
