package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidgate/vidgate/jobs"
)

// config is every setting of `vidgate` and `vidgate serve`.
type config struct {
	Addr            string
	PublicURL       string
	DataDir         string
	DatabaseURL     string
	BucketURL       string
	LogLevel        string
	MaxBodyBytes    int64
	MaxJobAge       time.Duration
	DownloadURLTTL  time.Duration
	ShutdownGrace   time.Duration
	DefaultProvider string

	secrets
}

// secrets are the keys vidgate needs. The embedded default generates them
// once into <data-dir>/secrets.json; `serve` takes them from flags or the
// environment only.
type secrets struct {
	JWTSecret     string `json:"jwt_secret"`      // raw, at least 32 characters
	PromptKeys    string `json:"prompt_keys"`     // id:base64(32 bytes)[,…], first one seals
	PromptHashKey string `json:"prompt_hash_key"` // base64, at least 32 bytes
	URLSigningKey string `json:"url_signing_key"` // base64, at least 32 bytes
}

func (c *config) register(fs *flagSet, embedded bool) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address the HTTP server listens on")
	fs.StringVar(&c.PublicURL, "public-url", "", "URL clients reach this server at, for signed download links (default http://<addr>)")
	if embedded {
		fs.StringVar(&c.DataDir, "data-dir", "./vidgate-data", "where the embedded default keeps its SQLite file, bucket and generated secrets")
	}
	dbUsage, bucketUsage := "database: postgres://user@host:5432/db or sqlite:PATH (required)", "object storage: file:///dir, s3://bucket, gs://bucket, azblob://container (required)"
	if embedded {
		dbUsage, bucketUsage = "database (default sqlite:<data-dir>/vidgate.db)", "object storage (default file://<data-dir>/bucket)"
	}
	fs.StringVar(&c.DatabaseURL, "database-url", "", dbUsage)
	fs.StringVar(&c.BucketURL, "bucket-url", "", bucketUsage)
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest GraphQL request body accepted, in bytes")
	fs.DurationVar(&c.MaxJobAge, "max-job-age", 24*time.Hour, "how long a job may stay unfinished before it expires")
	fs.DurationVar(&c.DownloadURLTTL, "download-url-ttl", 15*time.Minute, "how long signed download URLs stay valid")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 15*time.Second, "how long a shutdown waits for in-flight requests")
	fs.StringVar(&c.DefaultProvider, "default-provider", "sim", "provider for jobs that name none")
	secretHint := " (generate: openssl rand -base64 32)"
	if embedded {
		secretHint = " (default: generated into <data-dir>/secrets.json)"
	}
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret that verifies bearer tokens, at least 32 characters"+secretHint)
	fs.StringVar(&c.PromptKeys, "prompt-keys", "", "AES-256 keys that encrypt prompts: id:base64key[,id:base64key…], the first encrypts"+secretHint)
	fs.StringVar(&c.PromptHashKey, "prompt-hash-key", "", "base64 key of the prompt HMAC"+secretHint)
	fs.StringVar(&c.URLSigningKey, "url-signing-key", "", "base64 key that signs download URLs"+secretHint)
	fs.markSecret("jwt-secret", "prompt-keys", "prompt-hash-key", "url-signing-key")
}

// fillEmbedded completes c with the embedded default's local choices.
func (c *config) fillEmbedded() error {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	c.DataDir = dir
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(dir, "vidgate.db")
	}
	if c.BucketURL == "" {
		c.BucketURL = "file://" + filepath.ToSlash(filepath.Join(dir, "bucket"))
	}
	stored, err := loadOrCreateSecrets(filepath.Join(dir, "secrets.json"))
	if err != nil {
		return err
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&c.JWTSecret, stored.JWTSecret)
	fill(&c.PromptKeys, stored.PromptKeys)
	fill(&c.PromptHashKey, stored.PromptHashKey)
	fill(&c.URLSigningKey, stored.URLSigningKey)
	return nil
}

// check reports every missing or malformed setting at once.
func (c *config) check() error {
	var errs []error
	need := func(v, flag string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s / $%s is required", flag, envName(flag)))
		}
	}
	need(c.DatabaseURL, "database-url")
	need(c.BucketURL, "bucket-url")
	need(c.JWTSecret, "jwt-secret")
	need(c.PromptKeys, "prompt-keys")
	need(c.PromptHashKey, "prompt-hash-key")
	need(c.URLSigningKey, "url-signing-key")
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("--jwt-secret must be at least 32 characters"))
	}
	for flag, v := range map[string]string{"prompt-hash-key": c.PromptHashKey, "url-signing-key": c.URLSigningKey} {
		if v == "" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) < 32 {
			errs = append(errs, fmt.Errorf("--%s must be base64 of at least 32 bytes", flag))
		}
	}
	if c.PromptKeys != "" {
		if _, err := jobs.ParseVaultKeys(c.PromptKeys); err != nil {
			errs = append(errs, fmt.Errorf("--prompt-keys: %w", err))
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port", c.Addr))
	}
	return errors.Join(errs...)
}

// publicURL is where clients reach this server.
func (c *config) publicURL(listenAddr string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(listenAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func mustDecode(s string) []byte {
	b, _ := base64.StdEncoding.DecodeString(s) // check() validated it
	return b
}

func loadOrCreateSecrets(path string) (secrets, error) {
	var s secrets
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%s: %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	s = secrets{
		JWTSecret:     base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		PromptKeys:    "k1:" + base64.StdEncoding.EncodeToString(randomBytes(32)),
		PromptHashKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		URLSigningKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
	}
	b, _ = json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return s, fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}
