package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestOpsOnEmbeddedDefault: `jobs stuck` and `dlq` reach a running embedded
// default through --data-dir, whose in-process Redis takes a password; the
// file that says where it listens is the owner's only and goes away with
// the process.
func TestOpsOnEmbeddedDefault(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addrFile := filepath.Join(data, embeddedRedisFile)
	t.Cleanup(func() { // runs after the server below has stopped
		if _, err := os.Stat(addrFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind after shutdown (stat: %v)", addrFile, err)
		}
	})
	startVidgate(t, "--data-dir", data, "--addr", "127.0.0.1:0")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "stuck", "--data-dir", data}, "nothing is stuck"},
		{[]string{"dlq", "list", "--data-dir", data}, "no dead letters"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, &out, io.Discard); err != nil || !strings.Contains(out.String(), tc.want) {
			t.Errorf("vidgate %s = %q, %v; want %q", strings.Join(tc.args, " "), out.String(), err, tc.want)
		}
	}

	fi, err := os.Stat(addrFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", addrFile, fi.Mode().Perm())
	}
	url, err := embeddedRedisURL(data)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.Password = ""
	anon := redis.NewClient(opts)
	defer anon.Close()
	if err := anon.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("PING without the password = %v, want NOAUTH", err)
	}
}

// TestOpsEmbeddedNotRunning: with the data dir present but no vidgate
// running there, the commands say the process must run (its queue is in its
// memory) instead of failing to connect.
func TestOpsEmbeddedNotRunning(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run(ctx, []string{"--data-dir", data, "--addr", "127.0.0.1:0"}, io.Discard, io.Discard) // lays out the data dir, stops at once
	if _, err := os.Stat(filepath.Join(data, embeddedDBFile)); err != nil {
		t.Fatalf("the embedded default made no database: %v", err)
	}
	err := run(context.Background(), []string{"dlq", "list", "--data-dir", data}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is not running") {
		t.Errorf("dlq list with no vidgate running = %v, want an error saying it is not running", err)
	}
}
