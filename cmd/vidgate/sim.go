package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/vidgate/vidgate/providers/sim"
)

// runSim runs the simulated provider on its own, like a vendor's API, for
// load tests and for workers that should not share a process with it.
func runSim(ctx context.Context, args []string, stderr io.Writer) error {
	var addr, publicURL, apiKey, secret, logLevel string
	var latency time.Duration
	var maxOutput int64
	fs := newFlagSet("sim", "Run the simulated video provider on its own: a vendor-like HTTP API at /v1/generations\nthat signs its webhooks with Standard Webhooks and serves real MP4 files.", stderr)
	fs.StringVar(&addr, "addr", "127.0.0.1:8090", "address the simulator listens on")
	fs.StringVar(&publicURL, "public-url", "", "URL workers reach the simulator at, for output links (default http://<addr>)")
	fs.StringVar(&apiKey, "sim-api-key", "", "API key callers must send (default: none required)")
	fs.StringVar(&secret, "sim-webhook-secret", "", "Standard Webhooks secret (whsec_…) that signs webhooks (required)")
	fs.DurationVar(&latency, "sim-latency", 8*time.Second, "how long each video takes")
	fs.Int64Var(&maxOutput, "sim-max-output-size", sim.DefaultMaxOutputSize, "largest output a [sim output_size=…] directive may ask for, in bytes (at most 16GiB)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.markSecret("sim-api-key", "sim-webhook-secret")
	if err := fs.parse(args); err != nil {
		return err
	}
	if secret == "" {
		return fmt.Errorf("--sim-webhook-secret / $%s is required", envName("sim-webhook-secret"))
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg := sim.Config{APIKey: apiKey, WebhookSecret: secret, PublicURL: publicURL, Defaults: sim.Behavior{Latency: latency}, MaxOutputSize: maxOutput, Logger: log}
	if err := cfg.Validate(); err != nil {
		return err
	}
	srv := sim.New(cfg)
	defer srv.Close()
	log.Info("simulated provider listening", "addr", ln.Addr().String())
	return serveHTTP(ctx, ln, srv, 5*time.Second, log)
}
