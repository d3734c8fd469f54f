package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// go-redis's messages reach the JSON log, one line per interval, with how
// many were held back.
func TestRedisLoggerThrottles(t *testing.T) {
	var buf bytes.Buffer
	l := &redisLogger{log: slog.New(slog.NewJSONHandler(&buf, nil)), interval: time.Hour}
	for range 5 {
		l.Printf(context.Background(), "redis: failed to dial %s", "127.0.0.1:6379")
	}
	l.last = time.Time{} // the interval has passed
	l.Printf(context.Background(), "redis: failed to dial %s", "127.0.0.1:6379")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if second["level"] != "WARN" || second["similar_lines_held_back"] != float64(4) || !strings.Contains(second["detail"].(string), "failed to dial 127.0.0.1:6379") {
		t.Errorf("second line = %v", second)
	}
}
