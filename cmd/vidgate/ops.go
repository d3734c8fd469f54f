package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/vidgate/vidgate/jobs/queue"
)

// openOps opens what an operator command needs: the database, Redis, the
// queue and the providers, from the same settings as `vidgate worker`.
//
// Without --database-url and --redis-url (flag or environment), the command
// works on the embedded default in --data-dir: its database and secrets,
// and the in-process Redis of the vidgate running there. It never creates
// anything in the data dir.
func openOps(ctx context.Context, name, summary string, args []string, stderr io.Writer, extra func(*flagSet)) (*app, *flagSet, error) {
	var cfg config
	fs := newFlagSet(name, summary, stderr)
	cfg.register(fs, roleWorker)
	fs.StringVar(&cfg.DataDir, "data-dir", "./vidgate-data", "the embedded default's data directory, used when neither --database-url nor --redis-url is given")
	if extra != nil {
		extra(fs)
	}
	if err := fs.FlagSet.Parse(args); err != nil {
		return nil, nil, err
	}
	rest := fs.Args()
	if err := fs.parse(nil); err != nil { // fill from the environment
		return nil, nil, err
	}
	fs.rest = rest
	if cfg.DatabaseURL == "" && cfg.RedisURL == "" {
		if err := cfg.fillEmbeddedOps(); err != nil {
			return nil, nil, err
		}
	}
	if err := cfg.check(roleWorker); err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := openApp(ctx, &cfg, roleWorker, "http://127.0.0.1:8080", log)
	return a, fs, err
}

// fillEmbeddedOps points c at the embedded default in c.DataDir, reading
// what the running embedded vidgate wrote there.
func (c *config) fillEmbeddedOps() error {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return err
	}
	if c.DatabaseURL, err = embeddedDatabaseURL(dir); err != nil {
		return err
	}
	stored, err := embeddedSecrets(dir)
	if err != nil {
		return err
	}
	if c.RedisURL, err = embeddedRedisURL(dir); err != nil {
		return err
	}
	c.DataDir = dir
	if c.BucketURL == "" {
		c.BucketURL = "file://" + filepath.ToSlash(filepath.Join(dir, "bucket"))
	}
	c.fillSecrets(stored)
	return nil
}

// runJobs is `vidgate jobs stuck`.
func runJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "stuck" {
		return fmt.Errorf("usage: vidgate jobs stuck [flags]")
	}
	a, _, err := openOps(ctx, "jobs stuck", "List what the reconciler would act on now, and why. Changes nothing.", args[1:], stderr, nil)
	if err != nil {
		return err
	}
	defer a.close()
	plan, err := a.newReconciler().Plan(ctx)
	if err != nil {
		return err
	}
	if len(plan) == 0 {
		fmt.Fprintln(stdout, "nothing is stuck")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tJOB\tSTATUS\tPROVIDER\tIDLE\tWHY")
	for _, act := range plan {
		if act.SourceAsset != nil {
			fmt.Fprintf(w, "%s\tsource asset %s\t\t\t\t%s\n", act.Rule, act.SourceAsset.PublicID, act.Reason)
			continue
		}
		if act.Job == nil {
			fmt.Fprintf(w, "%s\tartifact %s\t\t\t\t%s\n", act.Rule, act.Artifact.PublicID, act.Reason)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", act.Rule, act.Job.PublicID, act.Job.Status, act.Job.Provider,
			time.Since(act.Job.UpdatedAt).Round(time.Second), act.Reason)
	}
	return w.Flush()
}

// runDLQ is `vidgate dlq list` and `vidgate dlq replay <id|--all>`.
func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return fmt.Errorf("usage: vidgate dlq list | vidgate dlq replay <entry-id>… | vidgate dlq replay --all")
	}
	verb := args[0]
	var all bool
	var kind string
	a, fs, err := openOps(ctx, "dlq "+verb, "List or replay the tasks that failed too often (the dead-letter streams).", args[1:], stderr, func(fs *flagSet) {
		fs.StringVar(&kind, "kind", "", "only this task kind: submit, poll, ingest or cancel")
		if verb == "replay" {
			fs.BoolVar(&all, "all", false, "replay every dead letter (of --kind, or of every kind)")
		}
	})
	if err != nil {
		return err
	}
	defer a.close()
	kinds := queue.Kinds
	if kind != "" {
		if !queue.Kind(kind).Valid() {
			return fmt.Errorf("--kind %q: want submit, poll, ingest or cancel", kind)
		}
		kinds = []queue.Kind{queue.Kind(kind)}
	}
	if verb == "list" {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "KIND\tENTRY\tJOB\tATTEMPT\tDELIVERIES\tDEAD SINCE\tREASON")
		n := 0
		for _, k := range kinds {
			dls, err := a.queue.DeadLetters(ctx, k, 0)
			if err != nil {
				return err
			}
			for _, dl := range dls {
				n++
				job := fmt.Sprint(dl.Task.JobID)
				if j, err := a.store.JobByID(ctx, dl.Task.JobID); err == nil {
					job = j.PublicID
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", k, dl.ID, job, dl.Task.Attempt, dl.Task.Deliveries, dl.DeadAt.Format(time.RFC3339), dl.Reason)
			}
		}
		if n == 0 {
			fmt.Fprintln(stdout, "no dead letters")
			return nil
		}
		return w.Flush()
	}
	if all == (len(fs.rest) > 0) {
		return fmt.Errorf("usage: vidgate dlq replay <entry-id>… | vidgate dlq replay --all")
	}
	if all {
		for _, k := range kinds {
			n, err := a.queue.ReplayAll(ctx, k)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "replayed %d %s task(s)\n", n, k)
		}
		return nil
	}
	for _, id := range fs.rest {
		replayed := false
		for _, k := range kinds {
			err := a.queue.Replay(ctx, k, id)
			if err == nil {
				fmt.Fprintf(stdout, "replayed %s task %s\n", k, id)
				replayed = true
				break
			}
			if err != queue.ErrNotFound {
				return err
			}
		}
		if !replayed {
			return fmt.Errorf("no dead letter %s", id)
		}
	}
	return nil
}
