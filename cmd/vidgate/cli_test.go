package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpListsCommands: `vidgate --help` (and `vidgate help`) list the
// commands, one line each, not the embedded default's flags.
func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("vidgate %v: %v, want nil", args, err)
		}
		for _, cmd := range []string{"(none), run", "serve", "worker", "migrate", "token", "sim", "apikey", "keys rotate", "jobs stuck", "dlq"} {
			if !strings.Contains(out.String(), "\n  "+cmd) {
				t.Errorf("vidgate %v does not list %q:\n%s", args, cmd, out.String())
			}
		}
		if strings.Contains(out.String(), "--jwt-secret") {
			t.Errorf("vidgate %v prints the server's flags; want the command list", args)
		}
	}
}

// TestEveryCommandHelp: `vidgate <command> --help` exits 0 (flag.ErrHelp,
// which main turns into exit 0, or nil) for every command and verb, prints
// something, and touches no database: it runs in an empty directory and
// leaves it empty.
func TestEveryCommandHelp(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"run", "--help"}, {"serve", "--help"}, {"worker", "--help"}, {"migrate", "--help"},
		{"token", "--help"}, {"sim", "--help"},
		{"apikey", "--help"}, {"apikey", "create", "--help"}, {"apikey", "list", "--help"}, {"apikey", "revoke", "--help"},
		{"keys", "--help"}, {"keys", "rotate", "--help"},
		{"jobs", "--help"}, {"jobs", "stuck", "--help"},
		{"dlq", "--help"}, {"dlq", "list", "--help"}, {"dlq", "replay", "--help"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("vidgate %s: %v, want help and exit 0", strings.Join(args, " "), err)
		}
		if out.Len()+errOut.Len() == 0 {
			t.Errorf("vidgate %s printed nothing", strings.Join(args, " "))
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("--help left files behind: %v", left)
	}
}

// TestOperatorCommandsNeedData: run where there is no embedded data, the
// operator commands say so (naming the path) instead of creating a database
// or secrets, and `token` never makes up a secret the server does not have.
func TestOperatorCommandsNeedData(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"apikey", "list"},
		{"apikey", "create", "--owner", "p", "--name", "n"},
		{"keys", "rotate"},
		{"token", "--sub", "bob"},
		{"jobs", "stuck"},
		{"dlq", "list"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), filepath.Join("vidgate-data")) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("vidgate %s in an empty directory: %v, want an error naming ./vidgate-data", strings.Join(args, " "), err)
		}
		if out.Len() != 0 {
			t.Errorf("vidgate %s printed %q", strings.Join(args, " "), out.String())
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the commands created %v", left)
	}
}
