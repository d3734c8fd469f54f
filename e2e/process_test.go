package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/providers/sim"
	"github.com/vidgate/vidgate/providers/stdwebhooks"
	"github.com/vidgate/vidgate/server/auth"
	"github.com/vidgate/vidgate/server/gqltest"
)

// The tests in this file run vidgate as real processes — the binary built
// with -tags faultinject, so that a worker can be stopped at a named step
// (jobs/internal/crashpoint/faultinject.go) and killed there with SIGKILL.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// vidgateBinary builds cmd/vidgate with fault injection once per test run.
func vidgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vidgate-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vidgate")
		cmd := exec.Command("go", "build", "-tags", "faultinject", "-o", binPath, "github.com/vidgate/vidgate/cmd/vidgate")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build vidgate: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// cluster is a deployment of real processes on PostgreSQL and Redis: one
// `vidgate serve`, workers started and killed by the test, and the
// simulated provider in the test process, so the test can count its
// generations.
type cluster struct {
	t      *testing.T
	bin    string
	env    []string // settings every process shares
	url    string   // the API's base URL
	sim    *sim.Server
	simURL string
	token  string // alice, a user
	admin  string
	// dbURL reaches the cluster's database directly; the processes go
	// through proxy when the cluster has one.
	dbURL string
	proxy *tcpProxy
	api   *process // the `vidgate serve` newCluster started
}

type clusterOptions struct {
	sim sim.Behavior
	// dbProxy puts a tcpProxy between the processes and PostgreSQL.
	dbProxy bool
	// serveArgs are more flags for `vidgate serve`.
	serveArgs []string
	// serveCrashAt names the step at which `vidgate serve` stops
	// (VIDGATE_CRASHPOINT), "" for none.
	serveCrashAt string
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	pg, rd := os.Getenv(jobstest.EnvDatabaseURL), os.Getenv("VIDGATE_TEST_REDIS_URL")
	if pg == "" || rd == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must set VIDGATE_TEST_DATABASE_URL and VIDGATE_TEST_REDIS_URL")
		}
		t.Skip("real processes need PostgreSQL and Redis: set VIDGATE_TEST_DATABASE_URL and VIDGATE_TEST_REDIS_URL")
	}
	c := &cluster{t: t, bin: vidgateBinary(t)}
	key := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	jwtSecret := key()
	whsec := stdwebhooks.NewSecret()
	prefix := "vgproc-" + randomHex(4)
	rdb := realRedis(t)
	t.Cleanup(func() { deleteKeys(rdb, prefix) })
	c.dbURL = jobstest.PostgresURL(t)
	procURL := c.dbURL
	if o.dbProxy {
		u, err := url.Parse(c.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		c.proxy = newTCPProxy(t, u.Host)
		u.Host = c.proxy.addr()
		procURL = u.String()
	}
	c.env = []string{
		"VIDGATE_DATABASE_URL=" + procURL,
		"VIDGATE_REDIS_URL=" + rd,
		"VIDGATE_REDIS_PREFIX=" + prefix,
		"VIDGATE_BUCKET_URL=file://" + t.TempDir(),
		"VIDGATE_JWT_SECRET=" + jwtSecret,
		"VIDGATE_PROMPT_KEYS=k1:" + key(),
		"VIDGATE_PROMPT_HASH_KEY=" + key(),
		"VIDGATE_URL_SIGNING_KEY=" + key(),
		"VIDGATE_SIM_WEBHOOK_SECRET=" + whsec,
		"VIDGATE_ENABLE_SIM=true", // the cluster's jobs go to the simulator
		"VIDGATE_LOG_LEVEL=debug",
		"VIDGATE_SHUTDOWN_GRACE=3s",
	}

	simDefaults := o.sim
	if simDefaults.Latency == 0 {
		simDefaults.Latency = 300 * time.Millisecond
	}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c.sim = sim.New(sim.Config{Prefix: "/sim", WebhookSecret: whsec, PublicURL: ts.URL, Defaults: simDefaults,
		WebhookBackoff: 100 * time.Millisecond})
	t.Cleanup(c.sim.Close)
	mux.Handle("/sim/", c.sim)
	c.simURL = ts.URL + "/sim"

	c.api = c.serve("api", o.serveCrashAt, o.serveArgs...)

	authn, err := auth.New(auth.Config{HS256Secret: []byte(jwtSecret)})
	if err != nil {
		t.Fatal(err)
	}
	c.token, _ = authn.Issue("alice", jobs.RoleUser, time.Hour)
	c.admin, _ = authn.Issue("ada", jobs.RoleAdmin, time.Hour)
	return c
}

// serve starts a `vidgate serve` process, waits until it listens and makes
// it the cluster's API; crashAt names the step at which it stops
// (VIDGATE_CRASHPOINT), "" for none.
func (c *cluster) serve(name, crashAt string, args ...string) *process {
	c.t.Helper()
	var env []string
	if crashAt != "" {
		env = append(env, "VIDGATE_CRASHPOINT="+crashAt)
	}
	api := c.start(name, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--sim=false"}, args...)...)
	m := api.waitFor(`"msg":"vidgate listening".*"addr":"([^"]+)"`, 60*time.Second)
	c.url = "http://" + m[1]
	return api
}

// worker starts a worker process; crashAt names the step at which it stops
// (VIDGATE_CRASHPOINT), "" for none.
func (c *cluster) worker(name, crashAt string, args ...string) *process {
	env := []string{}
	if crashAt != "" {
		env = append(env, "VIDGATE_CRASHPOINT="+crashAt)
	}
	args = append([]string{"worker", "--public-url", c.url, "--sim-url", c.simURL,
		"--visibility-timeout", "2s", "--poll-after", "2s", "--concurrency", "4"}, args...)
	return c.start(name, env, args...)
}

func (c *cluster) client() gqltest.Client {
	return gqltest.Client{URL: c.url + "/graphql", Token: c.token}
}

// create makes a job as alice and returns its id.
func (c *cluster) create(prompt string) string {
	c.t.Helper()
	r := c.client().Do(c.t, `mutation($p: String!) { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: $p}) { job { id } } }`,
		map[string]any{"p": prompt}).OK(c.t)
	return r.Str("createVideoJob.job.id")
}

// waitTerminal polls every job until it is terminal and returns each
// one's last reading.
func (c *cluster) waitTerminal(ids []string, patience time.Duration) map[string]gqltest.Response {
	c.t.Helper()
	out := map[string]gqltest.Response{}
	deadline := time.Now().Add(patience)
	for _, id := range ids {
		for {
			r := c.client().Do(c.t, `query($id: ID!) { job(id: $id) { `+jobFields+` } }`, map[string]any{"id": id}).OK(c.t)
			if jobs.Status(r.Str("job.status")).Terminal() || r.Str("job.status") == "COMPLETED" {
				out[id] = r
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("job %s is %s after %v; events %v", id, r.Str("job.status"), patience, eventTypes(r))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// process is one vidgate process the test started.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func (c *cluster) start(name string, env []string, args ...string) *process {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), c.env...), env...)
	p := &process{t: c.t, name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	c.t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		if dir := os.Getenv("VIDGATE_TEST_PROCESS_LOGS"); dir != "" {
			os.WriteFile(filepath.Join(dir, c.t.Name()[strings.LastIndex(c.t.Name(), "/")+1:]+"-"+name+".log"), []byte(p.out.String()), 0o644)
		}
		if c.t.Failed() || os.Getenv("VIDGATE_TEST_LOG") != "" {
			c.t.Logf("--- %s output ---\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

func (p *process) signal(s syscall.Signal) {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(s)
	}
}

// waitFor waits until the process's output matches pattern and returns the
// submatches.
func (p *process) waitFor(pattern string, patience time.Duration) []string {
	p.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(patience)
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited before printing %q: %v\n%s", p.name, pattern, p.cmd.ProcessState, tail(p.out.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %v\n%s", p.name, pattern, patience, tail(p.out.String(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *process) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s survived SIGKILL", p.name)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s ended with %v, want killed by SIGKILL", p.name, p.cmd.ProcessState)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }
