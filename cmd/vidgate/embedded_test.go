package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The embedded default on a database of the operator's choosing is not a
// laptop demo: the simulated provider is off unless --enable-sim, and the
// banner says so.
func TestEmbeddedWithDatabaseURLHasNoSim(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIDGATE_REPLICATE_API_KEY", "r8_test_key")
	t.Setenv("VIDGATE_REPLICATE_BASE_URL", "http://127.0.0.1:1/v1") // nothing listens: stays on this machine
	base, stdout, _ := startVidgate(t, "--addr", "127.0.0.1:0", "--data-dir", dir, "--database-url", "sqlite:"+filepath.Join(dir, "own.db"))
	if !strings.Contains(stdout.String(), "Simulated provider  off") {
		t.Errorf("banner = %q, want it to say the simulated provider is off", stdout.String())
	}
	token := regexp.MustCompile(`(?m)^\s+(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindStringSubmatch(stdout.String())[1]
	out := graphql(t, base, token, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "p", provider: "sim"}) { job { id } } }`)
	if s := jsonString(out); !strings.Contains(s, "BAD_USER_INPUT") || !strings.Contains(s, "available: replicate") {
		t.Errorf("createVideoJob(provider: sim) = %s, want BAD_USER_INPUT naming replicate", s)
	}
}

// The data dir and the SQLite file are the owner's only, even when they
// existed before with a looser mode.
func TestDataDirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	for _, f := range []string{"vidgate.db", "vidgate.db-wal", "secrets.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, f), 0o644)
	}
	os.Remove(filepath.Join(dir, "secrets.json")) // fillEmbedded generates it
	cfg := config{DataDir: dir}
	if err := cfg.fillEmbedded(); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]os.FileMode{"": 0o700, "vidgate.db": 0o600, "vidgate.db-wal": 0o600, "secrets.json": 0o600} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("mode of %q = %v, want %v", filepath.Join("data", f), got, want)
		}
	}
	// A fresh data dir gets its database file at 0600 before SQLite opens it.
	fresh := config{DataDir: filepath.Join(t.TempDir(), "fresh")}
	if err := fresh.fillEmbedded(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(fresh.DataDir, "vidgate.db")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("fresh vidgate.db = %v, %v, want mode 0600", info, err)
	}
}
