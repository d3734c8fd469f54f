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

Usage:
  vidgate [flags]            run everything in one process with embedded defaults
  vidgate serve [flags]      run the API against VIDGATE_DATABASE_URL, VIDGATE_REDIS_URL, VIDGATE_BUCKET_URL
  vidgate worker [flags]     run workers against the same settings
  vidgate migrate [flags]    apply database migrations
  vidgate token [flags]      print a bearer token (--sub, --role)
  vidgate sim [flags]        run the simulated video provider on its own
  vidgate apikey create      make a partner app's API key (--owner, --role, --name); also list, revoke <prefix>
  vidgate keys rotate        reseal every stored prompt with the first of --prompt-keys (--dry-run to count)
  vidgate jobs stuck         list what the reconciler would act on, and why
  vidgate dlq list           list dead-lettered tasks
  vidgate dlq replay <id>…   put dead-lettered tasks back on their streams (--all for every one)

Run 'vidgate <command> --help' for a command's flags and environment variables.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return runServer(ctx, args, true, stdout, stderr)
	case "serve":
		return runServer(ctx, args, false, stdout, stderr)
	case "worker":
		return runWorker(ctx, args, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, args, stdout, stderr)
	case "keys":
		return runKeys(ctx, args, stdout, stderr)
	case "jobs":
		return runJobs(ctx, args, stdout, stderr)
	case "dlq":
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
