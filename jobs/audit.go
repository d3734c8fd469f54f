package jobs

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// The audit trail records who did what to what, when and from where:
// review decisions, cancels and retries, API keys made and revoked, prompt
// key rotations. Rows are only ever appended. Where the change is a
// database write, its audit row is written in the same transaction, so
// there is never a change without its record nor a record of a change that
// rolled back. The exception is a prompt key rotation, which commits in
// batches: its one entry is written after the last batch, and records how
// far it got.

// AuditAction names what an audit entry records.
type AuditAction string

const (
	AuditJobApprove   AuditAction = "job.approve"
	AuditJobReject    AuditAction = "job.reject"
	AuditJobCancel    AuditAction = "job.cancel"
	AuditJobRetry     AuditAction = "job.retry"
	AuditAPIKeyCreate AuditAction = "apikey.create"
	AuditAPIKeyRevoke AuditAction = "apikey.revoke"
	// AuditPromptKeysRotate records a `vidgate keys rotate` run: its
	// detail holds key ids and counts, never key material.
	AuditPromptKeysRotate AuditAction = "prompt_keys.rotate"
	// AuditPromptRead records a read of another owner's raw prompt (the
	// target is the job); the prompt itself is never in the entry.
	AuditPromptRead AuditAction = "job.prompt_read"
	// AuditAssetRead records a signed URL of another owner's source image
	// handed out (the target is the asset; the detail names the job).
	AuditAssetRead AuditAction = "asset.read"
)

// Audit target kinds.
const (
	AuditTargetJob    = "job"
	AuditTargetAPIKey = "api_key"
	// AuditTargetPromptKeys is the prompt vault's keys; the target id is
	// the active key's id.
	AuditTargetPromptKeys = "prompt_keys"
	// AuditTargetSourceAsset is an uploaded source image, by public id.
	AuditTargetSourceAsset = "source_asset"
)

// RoleCLI is the actor role of audit entries written by vidgate's own
// commands (an operator at a shell). It is never a role a token can carry.
const RoleCLI Role = "cli"

// AuditEntry is a row of audit_log.
type AuditEntry struct {
	bun.BaseModel `bun:"table:audit_log"`

	ID           int64     `bun:"id,pk,autoincrement"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	ActorSubject string    `bun:"actor_subject,notnull"`
	ActorRole    string    `bun:"actor_role,notnull"`
	Action       string    `bun:"action,notnull"`
	TargetKind   string    `bun:"target_kind,notnull"`
	TargetID     string    `bun:"target_id,notnull"`
	// Detail is a small JSON object written by vidgate's own code: ids,
	// reason codes, roles. Never a prompt, a note, a token or a key.
	Detail    *string `bun:"detail"`
	ClientIP  *string `bun:"client_ip"`
	UserAgent *string `bun:"user_agent"`
	RequestID *string `bun:"request_id"`
}

// AuditRecord is what a caller of AppendAudit says; the store adds the time
// and, from ctx, the client's address, user agent and request id.
type AuditRecord struct {
	Actor      Actor
	Action     AuditAction
	TargetKind string
	TargetID   string
	// Detail is marshalled to JSON (at most MaxAuditDetailBytes). Put ids,
	// codes and flags in it; never a prompt, note, token or key.
	Detail map[string]any
}

// MaxAuditDetailBytes bounds an entry's detail; larger details are refused,
// so a caller notices rather than the trail silently growing.
const MaxAuditDetailBytes = 2048

// MaxUserAgentLength is how much of a user agent an entry keeps, in bytes.
const MaxUserAgentLength = 256

// Client is where a request came from: the client's IP address (as the
// server decided it, honouring X-Forwarded-For only behind trusted proxies)
// and its User-Agent header.
type Client struct {
	IP        string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying where the request came from; the server's
// middleware puts it there, and audit entries read it.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client in ctx, or the zero Client.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

type auditActorKey struct{}

// WithAuditActor returns ctx naming who acts in store methods that record
// audit entries themselves and take no actor (CreateAPIKey, RevokeAPIKey).
// Without it they record CLIActor().
func WithAuditActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, auditActorKey{}, a)
}

func auditActor(ctx context.Context) Actor {
	if a, ok := ctx.Value(auditActorKey{}).(Actor); ok && a.Subject != "" {
		return a
	}
	return CLIActor()
}

// CLIActor is the actor of a vidgate command run by an operator: role
// "cli", subject "<os user>@<hostname>".
func CLIActor() Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return Actor{Subject: name + "@" + host, Role: RoleCLI}
}

// AppendAudit appends an audit entry in db: pass the transaction of the
// change it records, or nil to write it on its own. It fills in the time,
// and the client's IP, user agent and request id from ctx.
func (s *Store) AppendAudit(ctx context.Context, db bun.IDB, r AuditRecord) error {
	if db == nil {
		db = s.db
	}
	if r.Actor.Subject == "" || r.Action == "" || r.TargetKind == "" || r.TargetID == "" {
		return errors.New("append audit: actor, action and target are required")
	}
	e := &AuditEntry{
		CreatedAt:    s.Now(),
		ActorSubject: cutBytes(r.Actor.Subject, 200),
		ActorRole:    string(r.Actor.Role),
		Action:       string(r.Action),
		TargetKind:   r.TargetKind,
		TargetID:     cutBytes(r.TargetID, 200),
		RequestID:    nonEmpty(RequestID(ctx)),
	}
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return fmt.Errorf("append audit: detail: %w", err)
		}
		if len(b) > MaxAuditDetailBytes {
			return fmt.Errorf("append audit: detail is %d bytes, over %d", len(b), MaxAuditDetailBytes)
		}
		e.Detail = nonEmpty(string(b))
	}
	c := ClientFrom(ctx)
	e.ClientIP = nonEmpty(cutBytes(c.IP, 64))
	e.UserAgent = nonEmpty(cutBytes(c.UserAgent, MaxUserAgentLength))
	if _, err := db.NewInsert().Model(e).Exec(ctx); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// cutBytes cuts s to at most n bytes, on a UTF-8 boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// AuditFilter selects entries for ListAudit. Zero fields do not filter.
type AuditFilter struct {
	Action   string
	Actor    string // actor subject, exact
	Since    time.Time
	BeforeID int64 // keyset cursor: entries older than this id
	Limit    int
}

// ListAudit returns audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error) {
	q := s.db.NewSelect().Model((*AuditEntry)(nil)).OrderExpr("id DESC").Limit(int64(max(f.Limit, 1)))
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Actor != "" {
		q = q.Where("actor_subject = ?", f.Actor)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var out []*AuditEntry
	if err := q.Scan(ctx, &out); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

// AuditCursor is the opaque cursor of an audit entry.
func AuditCursor(e *AuditEntry) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a1:" + strconv.FormatInt(e.ID, 10)))
}

func parseAuditCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errors.New("bad cursor")
	}
	rest, ok := strings.CutPrefix(string(b), "a1:")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("bad cursor")
	}
	return id, nil
}

// AuditInput asks for a page of the audit log.
type AuditInput struct {
	First  int
	After  string
	Action string
	Actor  string
	Since  time.Time
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Entries []*AuditEntry
	HasNext bool
}

// AuditLog returns a page of the audit trail, for readers the policy
// allows (admins).
func (s *Service) AuditLog(ctx context.Context, a Actor, in AuditInput) (*AuditPage, error) {
	if err := requireActor(a); err != nil {
		return nil, err
	}
	if !a.CanReadAudit() {
		return nil, Errorf(CodeForbidden, "only admins read the audit log")
	}
	if in.First < 1 || in.First > MaxPageSize {
		return nil, BadInput("first", "must be 1 to %d, got %d", MaxPageSize, in.First)
	}
	f := AuditFilter{Action: in.Action, Actor: in.Actor, Since: in.Since, Limit: in.First + 1}
	if in.After != "" {
		id, err := parseAuditCursor(in.After)
		if err != nil {
			return nil, BadInput("after", "not a cursor from this API: pass a pageInfo.endCursor unchanged")
		}
		f.BeforeID = id
	}
	es, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Entries: es}
	if len(es) > in.First {
		page.Entries, page.HasNext = es[:in.First], true
	}
	return page, nil
}
