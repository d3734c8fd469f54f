package wsgorilla_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"

	"github.com/vidgate/vidgate/server/gqlws"
	"github.com/vidgate/vidgate/server/wsgorilla"
)

type memStats struct {
	HeapInuse, StackInuse, RSS uint64
	Goroutines                 int
	Open                       int64
}

// TestHelperMemoryServer is not a test: TestMemoryPerConnection runs the test
// binary again with only it, so that the server is measured in a process of
// its own, without the clients.
func TestHelperMemoryServer(t *testing.T) {
	if os.Getenv("WSGORILLA_HELPER") != "1" {
		t.Skip("helper process for TestMemoryPerConnection")
	}
	impl := wsgorilla.New(wsgorilla.Options{PingInterval: wsgorilla.RecommendedPingInterval})
	var subs gauge // subscriptions started
	gql := handler.New(newSchema(make(chan string), func() { subs.add(1) }))
	gql.AddTransport(&gqlws.Transport{Upgrader: impl})
	mux := http.NewServeMux()
	// /wait?open=N&subs=M answers once N connections are open and M
	// subscriptions have started.
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		open, _ := strconv.ParseInt(r.URL.Query().Get("open"), 10, 64)
		started, _ := strconv.ParseInt(r.URL.Query().Get("subs"), 10, 64)
		if !waitOpen(impl, time.Minute, open) || !subs.wait(time.Minute, started) {
			http.Error(w, fmt.Sprintf("open %d, subscriptions %d", impl.OpenConnections(), subs.load()), http.StatusGatewayTimeout)
		}
	})
	if os.Getenv("WSGORILLA_MEMTEST_PLAIN") == "1" {
		mux.Handle("/graphql", gql) // served inside net/http's ServeHTTP, for comparison
	} else {
		mux.Handle("/graphql", impl.Detach(gql)) // as vidgate serves it
	}
	mux.HandleFunc("/mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(memStats{
			HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, RSS: rss(),
			Goroutines: runtime.NumGoroutine(), Open: impl.OpenConnections(),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	go http.Serve(ln, mux)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent is done
}

func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMemoryPerConnection measures the server's memory per connection. It is
// slow and meaningless under -race, so it runs only when asked:
//
//	WSGORILLA_MEMTEST=10000 go test -run TestMemoryPerConnection -v ./server/wsgorilla/
//
// The server serves through Implementation.Detach, as vidgate does; with
// WSGORILLA_MEMTEST_PLAIN=1 it serves gqlgen's handler directly instead.
func TestMemoryPerConnection(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSGORILLA_MEMTEST"))
	if n <= 0 {
		t.Skip("set WSGORILLA_MEMTEST=<connections> to run")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMemoryServer$")
	cmd.Env = append(os.Environ(), "WSGORILLA_HELPER=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		t.Fatalf("helper printed %q, %v; want ADDR <addr>", line, err)
	}
	wait := func(open, subs int) {
		resp, err := http.Get(fmt.Sprintf("http://%s/wait?open=%d&subs=%d", addr, open, subs))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("waiting for %d connections and %d subscriptions: %s", open, subs, body)
		}
	}
	mem := func() memStats {
		resp, err := http.Get("http://" + addr + "/mem")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ms memStats
		json.NewDecoder(resp.Body).Decode(&ms)
		return ms
	}
	report := func(what string, base, now memStats) uint64 {
		perConn := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) / 1024 }
		heapStack := perConn(base.HeapInuse+base.StackInuse, now.HeapInuse+now.StackInuse)
		t.Logf("%s, %d connections (open %d, goroutines %d): per connection heap %.1f KiB + stack %.1f KiB = %.1f KiB; RSS %.1f KiB",
			what, n, now.Open, now.Goroutines, perConn(base.HeapInuse, now.HeapInuse),
			perConn(base.StackInuse, now.StackInuse), heapStack, perConn(base.RSS, now.RSS))
		return uint64(heapStack * 1024)
	}

	base := mem()
	d := websocket.Dialer{Subprotocols: []string{protoTransportWS}, ReadBufferSize: 256, WriteBufferSize: 256}
	clients := make([]*client, 0, n)
	for i := range n {
		conn, _, err := d.Dial("ws://"+addr+"/graphql", nil)
		if err != nil {
			t.Fatalf("Dial() #%d = %v, want nil", i, err)
		}
		defer conn.Close()
		c := &client{t: t, conn: conn}
		c.init()
		clients = append(clients, c)
	}
	wait(n, 0)
	idle := mem()
	if got := report("idle after connection_ack", base, idle); got > 32<<10 {
		t.Errorf("idle heap+stack per connection = %d bytes, want < 32 KiB", got)
	}

	for _, c := range clients {
		c.send(wsMsg{ID: "1", Type: "subscribe", Payload: queryPayload("subscription { name }")})
	}
	wait(n, n)
	report("with one idle subscription each", base, mem())
}
