package jobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// APIKey is a row of api_keys: a partner app's key, stored as a lookup
// prefix and a SHA-256 of its secret part.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID         int64      `bun:"id,pk,autoincrement"`
	Prefix     string     `bun:"prefix,notnull"`
	SecretHash string     `bun:"secret_hash,notnull"`
	OwnerID    string     `bun:"owner_id,notnull"`
	Role       Role       `bun:"role,notnull"`
	Name       string     `bun:"name,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

// APIKeyPrefix starts every key, so that a leaked one is easy to spot (and
// to scan for in repositories).
const APIKeyPrefix = "vg_"

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CreateAPIKey makes a key for owner with role and returns it in full —
// the only time it is ever available — with its stored row.
func (s *Store) CreateAPIKey(ctx context.Context, owner string, role Role, name string) (string, *APIKey, error) {
	if owner == "" || len(owner) > 200 {
		return "", nil, errors.New("api key: owner must be 1 to 200 characters")
	}
	if !role.Valid() {
		return "", nil, fmt.Errorf("api key: role %q: want user, reviewer or admin", role)
	}
	if name == "" || len(name) > 200 {
		return "", nil, errors.New("api key: name must be 1 to 200 characters")
	}
	pre, secret := make([]byte, 5), make([]byte, 20)
	rand.Read(pre)
	rand.Read(secret)
	prefix := strings.ToLower(keyEncoding.EncodeToString(pre))
	secretPart := strings.ToLower(keyEncoding.EncodeToString(secret))
	k := &APIKey{Prefix: prefix, SecretHash: hashSecret(secretPart), OwnerID: owner, Role: role, Name: name, CreatedAt: s.Now()}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(k).Exec(ctx); err != nil {
			return err
		}
		// The prefix is a lookup id, shown by `apikey list`; the secret part
		// never leaves this function but in the returned key.
		return s.AppendAudit(ctx, tx, AuditRecord{Actor: auditActor(ctx), Action: AuditAPIKeyCreate,
			TargetKind: AuditTargetAPIKey, TargetID: prefix,
			Detail: map[string]any{"owner": owner, "role": role, "name": name}})
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	return APIKeyPrefix + prefix + "_" + secretPart, k, nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ErrBadAPIKey is returned for a key that is malformed, unknown or revoked.
var ErrBadAPIKey = errors.New("api key is invalid or revoked")

// CheckAPIKey returns the stored key for key if it is valid and not
// revoked, and records its use (at most once a minute).
func (s *Store) CheckAPIKey(ctx context.Context, key string) (*APIKey, error) {
	rest, ok := strings.CutPrefix(key, APIKeyPrefix)
	prefix, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || prefix == "" || secret == "" {
		return nil, ErrBadAPIKey
	}
	k := new(APIKey)
	err := s.db.NewSelect().Model(k).Where("prefix = ?", prefix).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrBadAPIKey
	}
	if err != nil {
		return nil, fmt.Errorf("check api key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(k.SecretHash)) != 1 || k.RevokedAt != nil {
		return nil, ErrBadAPIKey
	}
	now := s.Now()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_, _ = s.db.NewUpdate().Model((*APIKey)(nil)).Set("last_used_at = ?", now).Where("id = ?", k.ID).Exec(ctx)
	}
	return k, nil
}

// ListAPIKeys returns every key, newest first (never their secrets).
func (s *Store) ListAPIKeys(ctx context.Context) ([]*APIKey, error) {
	var keys []*APIKey
	if err := s.db.NewSelect().Model(&keys).OrderExpr("id DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey revokes the key with the given prefix (with or without the
// vg_ start); revoking twice is not an error. ErrNotFound for no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, prefix string) error {
	prefix = strings.TrimPrefix(prefix, APIKeyPrefix)
	if p, _, ok := strings.Cut(prefix, "_"); ok {
		prefix = p
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		k := new(APIKey)
		err := tx.NewSelect().Model(k).Where("prefix = ?", prefix).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.NewUpdate().Model((*APIKey)(nil)).Set("revoked_at = coalesce(revoked_at, ?)", s.Now()).Where("id = ?", k.ID).Exec(ctx)
		if err != nil {
			return err
		}
		return s.AppendAudit(ctx, tx, AuditRecord{Actor: auditActor(ctx), Action: AuditAPIKeyRevoke,
			TargetKind: AuditTargetAPIKey, TargetID: prefix,
			Detail: map[string]any{"owner": k.OwnerID, "role": k.Role, "already_revoked": k.RevokedAt != nil}})
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}
