package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient speaks graphql-transport-ws, as the graphql-ws npm client does.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	next int
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dial opens a WebSocket to base's /graphql and sends connection_init with
// token ("" for none). It does not wait for the ack.
func dial(t *testing.T, base, token string) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/graphql"
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn}
	payload := map[string]any{}
	if token != "" {
		payload["Authorization"] = "Bearer " + token
	}
	c.send(map[string]any{"type": "connection_init", "payload": payload})
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("websocket write: %v", err)
	}
}

// read returns the next message, or the close error.
func (c *wsClient) read(timeout time.Duration) (wsMessage, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	var m wsMessage
	err := c.conn.ReadJSON(&m)
	return m, err
}

// ack waits for connection_ack, skipping pings.
func (c *wsClient) ack() {
	c.t.Helper()
	for {
		m, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for connection_ack: %v", err)
		}
		switch m.Type {
		case "connection_ack":
			return
		case "ping", "pong", "ka":
		default:
			c.t.Fatalf("got %s before connection_ack: %s", m.Type, m.Payload)
		}
	}
}

// subscribe starts a subscription and returns its id.
func (c *wsClient) subscribe(query string, vars map[string]any) string {
	c.t.Helper()
	c.next++
	id := fmt.Sprint(c.next)
	c.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	return id
}

// update is one JobUpdate received.
type update struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	StatusCopy string `json:"statusCopy"`
	Version    int    `json:"version"`
	Progress   int    `json:"progress"`
	// Job is the update's VideoJob, when the subscription selects it.
	Job *struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Version  int    `json:"version"`
		Provider string `json:"provider"`
		Reviews  []struct {
			Decision string `json:"decision"`
		} `json:"reviews"`
	} `json:"job"`
}

// receive reads the messages of subscription id until stop says so,
// returning its updates, or "complete"/"error" as the final type.
func (c *wsClient) receive(id, field string, timeout time.Duration, stop func([]update) bool) ([]update, string, json.RawMessage) {
	c.t.Helper()
	var got []update
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("subscription %s: %v after %+v", id, err, got)
		}
		if m.ID != id {
			continue
		}
		switch m.Type {
		case "next":
			var p struct {
				Data   map[string]update `json:"data"`
				Errors json.RawMessage   `json:"errors"`
			}
			json.Unmarshal(m.Payload, &p)
			if len(p.Errors) > 0 && string(p.Errors) != "null" {
				return got, "error", p.Errors
			}
			got = append(got, p.Data[field])
			if stop != nil && stop(got) {
				return got, "next", nil
			}
		case "complete", "error":
			return got, m.Type, m.Payload
		}
	}
	c.t.Fatalf("subscription %s: no end within %v; got %+v", id, timeout, got)
	return nil, "", nil
}

const updateFields = `id status statusCopy version progress previousStatus nextStep error { code }`

func statuses(us []update) string {
	var out []string
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Status {
			out = append(out, u.Status)
		}
	}
	return strings.Join(out, ",")
}

func increasing(t *testing.T, us []update) {
	t.Helper()
	last := map[string]int{}
	for _, u := range us {
		if u.Version <= last[u.ID] {
			t.Errorf("job %s: version %d after %d: want strictly increasing (%+v)", u.ID, u.Version, last[u.ID], us)
		}
		last[u.ID] = u.Version
	}
}

// An SPA subscribed to a job sees its current state at once, then every
// change, in order, through to the reviewer's decision — whichever API
// process the subscription is on.
func TestSubscriptionFollowsJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{simLatency: 400 * time.Millisecond})
		other := d.addAPI(t) // a second API process on the same database and Redis
		for _, base := range []string{d.url, other} {
			id := d.create(t, "a red balloon over the city")
			c := dial(t, base, d.tokens["alice"])
			c.ack()
			sub := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { `+updateFields+` } }`, map[string]any{"id": id})
			got, _, _ := c.receive(sub, "jobStatus", 15*time.Second, func(us []update) bool { return us[len(us)-1].Status == "COMPLETED" })
			if got[0].Version > 3 {
				t.Errorf("first update is version %d: want the state at subscribe time, sent at once", got[0].Version)
			}
			// The reviewer acts through the first API process.
			d.as("rita").Do(t, `mutation($id: ID!) { approveVideoJob(id: $id) { status } }`, map[string]any{"id": id}).OK(t)
			rest, end, _ := c.receive(sub, "jobStatus", 10*time.Second, nil)
			got = append(got, rest...)
			if end != "complete" {
				t.Errorf("subscription ended with %s, want complete after the terminal status", end)
			}
			s := statuses(got)
			if !strings.HasSuffix(s, "PROCESSING,COMPLETED,APPROVED") || !strings.Contains(s, "SUBMITTED") && !strings.HasPrefix(s, "PROCESSING") {
				t.Errorf("statuses via %s = %s, want …SUBMITTED,PROCESSING,COMPLETED,APPROVED", base, s)
			}
			progress := 0
			for _, u := range got {
				if u.Status == "PROCESSING" && u.Progress > progress {
					progress = u.Progress
				}
			}
			if progress == 0 {
				t.Errorf("no progress updates among %+v", got)
			}
			increasing(t, got)
			if last := got[len(got)-1]; last.StatusCopy != "Ready to use" {
				t.Errorf("last statusCopy = %q, want Ready to use", last.StatusCopy)
			}
		}
	})
}

// A dashboard sees every change to its owner's jobs and nobody else's; a
// review tool sees jobs enter review.
func TestMyJobsAndReviewQueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{simLatency: 100 * time.Millisecond})
		mine := dial(t, d.url, d.tokens["alice"])
		mine.ack()
		mySub := mine.subscribe(`subscription { myJobs { `+updateFields+` } }`, nil)
		review := dial(t, d.url, d.tokens["rita"])
		review.ack()
		revSub := review.subscribe(`subscription { reviewQueue { `+updateFields+` } }`, nil)
		time.Sleep(200 * time.Millisecond) // both subscriptions are live

		bobs := d.as("bob").Do(t, `mutation { createVideoJob(input: {workflowType: TEXT_TO_VIDEO, prompt: "bob's"}) { job { id } } }`, nil).OK(t).Str("createVideoJob.job.id")
		id := d.create(t, "alice's")
		got, _, _ := mine.receive(mySub, "myJobs", 15*time.Second, func(us []update) bool {
			return us[len(us)-1].ID == id && us[len(us)-1].Status == "COMPLETED"
		})
		for _, u := range got {
			if u.ID == bobs {
				t.Fatalf("alice's myJobs delivered bob's job: %+v", u)
			}
		}
		increasing(t, got)
		rev, _, _ := review.receive(revSub, "reviewQueue", 15*time.Second, func(us []update) bool {
			return us[len(us)-1].ID == id
		})
		if last := rev[len(rev)-1]; last.Status != "COMPLETED" {
			t.Errorf("review queue got %+v, want the job entering review (COMPLETED)", last)
		}
		d.as("rita").Do(t, `mutation($id: ID!) { rejectVideoJob(id: $id, reasons: [OTHER], note: "n") { status } }`, map[string]any{"id": id}).OK(t)
		rev, _, _ = review.receive(revSub, "reviewQueue", 10*time.Second, func(us []update) bool {
			return us[len(us)-1].ID == id
		})
		if last := rev[len(rev)-1]; last.Status != "REJECTED" {
			t.Errorf("review queue got %+v, want the job leaving review (REJECTED)", last)
		}
	})
}

// Subscriptions are authorized like queries.
func TestSubscriptionAuthorization(t *testing.T) {
	d := deploy(t, backends(t)[0], options{})
	id := d.create(t, "private")

	// No token: the connection is closed with 4401.
	c := dial(t, d.url, "")
	_, err := c.read(5 * time.Second)
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4401 || !strings.Contains(ce.Text, "Unauthorized") {
		t.Errorf("connection_init without a token: %v, want close 4401 Unauthorized", err)
	}
	// A forged token: 4401 too.
	c = dial(t, d.url, d.tokens["alice"]+"x")
	if _, err := c.read(5 * time.Second); !isClose(err, 4401) {
		t.Errorf("connection_init with a forged token: %v, want close 4401", err)
	}
	// Another owner's job is NOT_FOUND; users have no review queue.
	c = dial(t, d.url, d.tokens["bob"])
	c.ack()
	sub := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { id } }`, map[string]any{"id": id})
	if _, end, payload := c.receive(sub, "jobStatus", 5*time.Second, nil); end != "error" || !strings.Contains(string(payload), "NOT_FOUND") {
		t.Errorf("bob's jobStatus on alice's job ended %s %s, want an error NOT_FOUND", end, payload)
	}
	sub = c.subscribe(`subscription { reviewQueue { id } }`, nil)
	if _, end, payload := c.receive(sub, "reviewQueue", 5*time.Second, nil); end != "error" || !strings.Contains(string(payload), "FORBIDDEN") {
		t.Errorf("a user's reviewQueue ended %s %s, want an error FORBIDDEN", end, payload)
	}
	// A connection holds at most MaxSubscriptions (5 here): of six opened at
	// once, exactly one is refused.
	c = dial(t, d.url, d.tokens["alice"])
	c.ack()
	for range 6 {
		c.subscribe(`subscription { myJobs { id } }`, nil)
	}
	refused := map[string]bool{}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		m, err := c.read(time.Until(end))
		if err != nil {
			break
		}
		if m.Type == "next" && strings.Contains(string(m.Payload), "RATE_LIMITED") {
			refused[m.ID] = true
		}
	}
	if len(refused) != 1 {
		t.Errorf("subscriptions refused RATE_LIMITED: %v, want exactly one of six", refused)
	}
}

func isClose(err error, code int) bool {
	ce, ok := err.(*websocket.CloseError)
	return ok && ce.Code == code
}

// Clients that cannot use WebSockets subscribe with Server-Sent Events, with
// the same authentication and authorization as any HTTP request.
func TestSubscriptionOverSSE(t *testing.T) {
	d := deploy(t, backends(t)[0], options{simLatency: 100 * time.Millisecond})
	id := d.create(t, "sse")
	body := fmt.Sprintf(`{"query":"subscription { jobStatus(id: \"%s\") { id status version } }"}`, id)
	post := func(token string) *http.Response {
		req, _ := http.NewRequest("POST", d.url+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := post(""); res.StatusCode != 401 {
		t.Errorf("SSE without a token = %d, want 401", res.StatusCode)
	}
	res := post(d.tokens["alice"])
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("SSE content type = %q", ct)
	}
	buf := make([]byte, 64<<10)
	var text strings.Builder
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(text.String(), `"COMPLETED"`) {
		n, err := res.Body.Read(buf)
		text.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(text.String(), "event: next") || !strings.Contains(text.String(), `"COMPLETED"`) {
		t.Errorf("SSE stream = %q, want next events through COMPLETED", text.String())
	}
}
