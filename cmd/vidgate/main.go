// Command vidgate runs the vidgate service and its operator tools.
//
//	vidgate            the embedded default: everything in one process on a
//	                   SQLite file and a local bucket, no configuration
//	vidgate serve      the API against the configured database, Redis and bucket
//	vidgate worker     the workers: queue consumers that talk to the providers
//	vidgate migrate    apply database migrations
//	vidgate token      print a bearer token for the configured JWT secret
//	vidgate sim        the simulated video provider on its own
//	vidgate apikey     create, list and revoke partner apps' API keys
//	vidgate keys rotate reseal stored prompts with the first prompt key
//	vidgate jobs stuck what the reconciler would act on, and why
//	vidgate dlq        list or replay dead-lettered tasks
//
// Every flag can also be set by a VIDGATE_* environment variable; run
// `vidgate <command> --help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vidgate:", err)
		os.Exit(1)
	}
}

const usage = `vidgate — a GraphQL gateway and job engine for AI video generation.

Usage: vidgate [command] [flags]

Commands:
  (none), run      run everything in one process with embedded defaults (SQLite, local bucket, in-process Redis)
  serve            run the API against VIDGATE_DATABASE_URL, VIDGATE_REDIS_URL and VIDGATE_BUCKET_URL
  worker           run the workers (queue consumers that talk to the providers) against the same settings
  migrate          apply database migrations
  token            print a bearer token signed with the JWT secret (--sub, --role)
  sim              run the simulated video provider on its own
  apikey           create, list and revoke partner apps' API keys
  keys rotate      reseal every stored prompt with the first of --prompt-keys
  jobs stuck       list what the reconciler would act on now, and why
  dlq              list or replay dead-lettered tasks
  help             print this list

Run 'vidgate <command> --help' for a command's flags and their environment
variables; 'vidgate run --help' for the embedded default's.
`

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// groupHelp answers a command with verbs (apikey, keys, jobs, dlq) called
// without one or with --help: the verbs on stdout and exit 0 for help, an
// error naming them otherwise. It reports whether it answered.
func groupHelp(args []string, stdout io.Writer, verbs string) (bool, error) {
	if len(args) == 0 {
		return true, fmt.Errorf("usage: %s", verbs)
	}
	if isHelp(args[0]) {
		fmt.Fprintf(stdout, "Usage: %s\n\nRun it with --help after the verb for the verb's flags.\n", verbs)
		return true, nil
	}
	return false, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if cmd == "" && len(args) > 0 && isHelp(args[0]) {
		// The command list, not the embedded default's flags: those are
		// 'vidgate run --help'.
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch cmd {
	case "", "run":
		return runServer(ctx, args, true, stdout, stderr)
	case "serve":
		return runServer(ctx, args, false, stdout, stderr)
	case "worker":
		return runWorker(ctx, args, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "apikey":
		if ok, err := groupHelp(args, stdout, "vidgate apikey create --owner <id> --role user --name <label> | vidgate apikey list | vidgate apikey revoke <prefix>"); ok {
			return err
		}
		return runAPIKey(ctx, args, stdout, stderr)
	case "keys":
		if ok, err := groupHelp(args, stdout, "vidgate keys rotate [--dry-run] [--batch-size N]"); ok {
			return err
		}
		return runKeys(ctx, args, stdout, stderr)
	case "jobs":
		if ok, err := groupHelp(args, stdout, "vidgate jobs stuck [flags]"); ok {
			return err
		}
		return runJobs(ctx, args, stdout, stderr)
	case "dlq":
		if ok, err := groupHelp(args, stdout, "vidgate dlq list [--kind K] | vidgate dlq replay <entry-id>… | vidgate dlq replay --all [--kind K]"); ok {
			return err
		}
		return runDLQ(ctx, args, stdout, stderr)
	case "sim":
		return runSim(ctx, args, stderr)
	case "token":
		return runToken(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
