package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// flagSet is a flag.FlagSet whose every flag can also come from a
// VIDGATE_* environment variable (--database-url ↔ VIDGATE_DATABASE_URL).
// A flag on the command line wins over the environment, which wins over
// the default.
type flagSet struct {
	*flag.FlagSet
	secret map[string]bool
	// rest holds positional arguments, for commands that take them.
	rest []string
	// footer, when set, ends --help.
	footer func(io.Writer)
}

func newFlagSet(name, summary string, out io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), secret: map[string]bool{}}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "%s\n\nUsage: vidgate %s [flags]\n\nFlags (each also read from the environment variable shown, or from the file named by\nthat variable with _FILE appended — the way to supply secrets):\n", summary, name)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if fs.secret[f.Name] {
				def = "" // never print a secret, even a default one
			}
			fmt.Fprintf(out, "  --%s  ($%s)\n      %s", f.Name, envName(f.Name), f.Usage)
			if def != "" {
				fmt.Fprintf(out, " (default %q)", def)
			}
			fmt.Fprintln(out)
		})
		if fs.footer != nil {
			fs.footer(out)
		}
	}
	return fs
}

// markSecret keeps a flag's value out of --help output.
func (fs *flagSet) markSecret(names ...string) {
	for _, n := range names {
		fs.secret[n] = true
	}
}

func envName(flagName string) string {
	return "VIDGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args (nil: they were parsed already, positional arguments
// allowed), then fills every flag not given on the command line from its
// environment variable.
func (fs *flagSet) parse(args []string) error {
	if args != nil {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q (see vidgate %s --help)", fs.Arg(0), fs.Name())
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if file, fromFile := os.LookupEnv(name + "_FILE"); fromFile {
			// Secrets as files, the way Kubernetes and Docker mount them.
			if ok {
				err = fmt.Errorf("$%s and $%s_FILE are both set: use one", name, name)
				return
			}
			b, rerr := os.ReadFile(file)
			if rerr != nil {
				err = fmt.Errorf("$%s_FILE: %v", name, rerr)
				return
			}
			v, ok = strings.TrimSpace(string(b)), true
		}
		if ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("$%s: %v", name, e)
			}
		}
	})
	return err
}
