package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// embeddedRedisFile, in the data dir, tells operator commands (`vidgate
// jobs stuck`, `vidgate dlq`) where the running embedded default's
// in-process Redis listens and its password. It exists only while that
// process runs: the queue lives in the process's memory.
const embeddedRedisFile = "redis.json"

type embeddedRedis struct {
	URL string `json:"url"` // redis://:password@127.0.0.1:port/0
}

// startEmbeddedRedis starts the embedded default's in-process
// Redis-protocol server on a loopback port, behind a password made for this
// run (a loopback port is open to every local user), and records how to
// reach it in the data dir, readable by its owner only.
func (a *app) startEmbeddedRedis() (redis.UniversalClient, error) {
	mr := miniredis.NewMiniRedis()
	password := rand.Text()
	mr.RequireAuth(password)
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start in-process redis: %w", err)
	}
	a.closers = append(a.closers, mr.Close)
	if a.cfg.DataDir != "" {
		path := filepath.Join(a.cfg.DataDir, embeddedRedisFile)
		b, _ := json.Marshal(embeddedRedis{URL: fmt.Sprintf("redis://:%s@%s/0", password, mr.Addr())})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil { // an old file keeps its mode
			return nil, fmt.Errorf("data dir: %w", err)
		}
		a.closers = append(a.closers, func() { os.Remove(path) })
	}
	return redis.NewClient(&redis.Options{Addr: mr.Addr(), Password: password}), nil
}

// embeddedRedisURL is the running embedded default's Redis, from dataDir.
func embeddedRedisURL(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, embeddedRedisFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("the embedded vidgate in %s is not running: its queue lives in that process's memory, so start `vidgate --data-dir %s` first (or pass --redis-url and --database-url for a deployment)", dataDir, dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	var r embeddedRedis
	if err := json.Unmarshal(b, &r); err != nil || r.URL == "" {
		return "", fmt.Errorf("data dir: %s is not what vidgate wrote: %v", filepath.Join(dataDir, embeddedRedisFile), err)
	}
	return r.URL, nil
}
