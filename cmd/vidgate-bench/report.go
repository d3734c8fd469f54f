package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run of a scenario measured. It is printed as tables
// and written as JSON with --json.
type Report struct {
	Scenario string `json:"scenario"`
	// Command is the command line that produced the report.
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Machine Machine   `json:"machine"`
	// Deployment says what ran: "in-process sqlite+embedded",
	// "in-process postgres+redis", or the --target URL.
	Deployment string         `json:"deployment"`
	Smoke      bool           `json:"smoke"`
	Params     map[string]any `json:"params"`
	Phases     []*Phase       `json:"phases"`
	// Metrics are the scenario's other numbers (ratios, counts, memory per
	// connection…), in the order they were added.
	Metrics []Metric `json:"metrics,omitempty"`
	// Checks are correctness conditions: any failed check fails the run.
	Checks []Check `json:"checks,omitempty"`
	// Targets are the performance goals, reported but never failing a run.
	Targets []Target `json:"targets,omitempty"`
	// Notes say how to read the numbers.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs int `json:"cpus"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15-minute load when the run
	// started and ended: other work on the machine shows here.
	LoadAtStart string `json:"load_at_start"`
	LoadAtEnd   string `json:"load_at_end"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
}

// Phase is one measured stretch of load.
type Phase struct {
	Name string `json:"name"`
	// Ops counts the operations that finished inside the measured window;
	// Errors the ones among them that failed.
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors"`
	// Seconds is the measured window; PerSecond = Ops / Seconds.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Latency   Latency `json:"latency_ms"`
	// Resources are the server's CPU and memory during the phase, where
	// they could be read.
	Resources *Resources `json:"resources,omitempty"`
	// FirstErrors holds a few distinct error messages.
	FirstErrors []string `json:"first_errors,omitempty"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// summarize sorts samples in place and returns their distribution.
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	q := func(p float64) float64 {
		i := int(p*float64(len(samples))+0.5) - 1
		return ms(samples[min(max(i, 0), len(samples)-1)])
	}
	return Latency{
		Count: len(samples), Mean: ms(sum / time.Duration(len(samples))),
		P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: ms(samples[len(samples)-1]),
	}
}

// Metric is one named number.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Check is a correctness condition.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Target is a performance goal and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

func newReport(scenario string, args []string) *Report {
	return &Report{
		Scenario: scenario,
		Command:  "go run ./cmd/vidgate-bench " + strings.Join(redactArgs(args), " "),
		Started:  time.Now().UTC().Truncate(time.Second),
		Machine:  Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadAtStart: loadAverage()},
		Params:   map[string]any{},
	}
}

func (r *Report) metric(name string, v float64, unit string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Value: v, Unit: unit})
}

func (r *Report) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) target(name string, met bool, format string, args ...any) {
	r.Targets = append(r.Targets, Target{Name: name, Met: met, Got: fmt.Sprintf(format, args...)})
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Failed reports whether the run must exit non-zero: a phase with errors
// or a failed check. Missed targets do not fail a run.
func (r *Report) Failed() error {
	for _, p := range r.Phases {
		if p.Errors > 0 {
			return fmt.Errorf("%s: phase %s had %d errors (first: %s)", r.Scenario, p.Name, p.Errors, strings.Join(p.FirstErrors, "; "))
		}
	}
	for _, c := range r.Checks {
		if !c.OK {
			return fmt.Errorf("%s: check failed: %s: %s", r.Scenario, c.Name, c.Detail)
		}
	}
	if len(r.Phases) == 0 {
		return fmt.Errorf("%s: nothing was measured", r.Scenario)
	}
	return nil
}

// Print writes the report as tables.
func (r *Report) Print(w io.Writer) {
	r.Machine.LoadAtEnd = loadAverage()
	fmt.Fprintf(w, "\nvidgate-bench %s — %s — %s, %d CPUs, %s, load average %s at start, %s at end\n", r.Scenario, r.Deployment,
		r.Started.Format(time.RFC3339), r.Machine.CPUs, r.Machine.GoVersion, r.Machine.LoadAtStart, r.Machine.LoadAtEnd)
	fmt.Fprintf(w, "%s\n\n", r.Command)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tops\tops/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tCPU: bench\tpostgres\tredis\tother\theap peak MiB\tgoroutines peak\t")
	for _, p := range r.Phases {
		cpu, pg, rd, other, heap, gor := "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"
		if res := p.Resources; res != nil {
			cpu = fmt.Sprintf("%.2f", res.CPUCores)
			pg = fmt.Sprintf("%.2f", res.PostgresCores)
			rd = fmt.Sprintf("%.2f", res.RedisCores)
			other = fmt.Sprintf("%.2f", res.OtherCores)
			heap = fmt.Sprintf("%.1f", res.HeapInuseMiBPeak)
			gor = fmt.Sprint(res.GoroutinesPeak)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			p.Name, p.Ops, p.PerSecond, p.Latency.P50, p.Latency.P95, p.Latency.P99, p.Latency.Max, p.Errors, cpu, pg, rd, other, heap, gor)
	}
	tw.Flush()
	fmt.Fprintln(w, "  (CPU columns: CPUs in use during the phase by this process, PostgreSQL, Redis, and everything else on the machine)")
	for _, p := range r.Phases {
		if res := p.Resources; res != nil && res.OtherCores >= 0.05 {
			fmt.Fprintf(w, "  %s: other = %.2f kernel (irq, softirq) + %.2f steal + processes %s\n", p.Name, res.KernelCores, res.StealCores, strings.Join(res.OtherTop, ", "))
		}
	}
	for _, p := range r.Phases {
		for _, e := range p.FirstErrors {
			fmt.Fprintf(w, "  %s error: %s\n", p.Name, e)
		}
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, m := range r.Metrics {
			fmt.Fprintf(tw, "  %s\t%s %s\n", m.Name, formatNumber(m.Value), m.Unit)
		}
		tw.Flush()
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "\nchecks:")
		for _, c := range r.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			mark := "met   "
			if !t.Met {
				mark = "MISSED"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", mark, t.Name, t.Got)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	fmt.Fprintln(w)
}

func formatNumber(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15 && v > -1e15:
		return fmt.Sprint(int64(v))
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// redactArgs hides the value of --token, which reports must not carry.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case i > 0 && (args[i-1] == "--token" || args[i-1] == "-token"):
			out[i] = "TOKEN"
		case strings.HasPrefix(a, "--token=") || strings.HasPrefix(a, "-token="):
			out[i] = a[:strings.IndexByte(a, '=')+1] + "TOKEN"
		default:
			out[i] = a
		}
	}
	return out
}
