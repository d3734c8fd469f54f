package sim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Generation statuses, as the API spells them.
const (
	statusQueued     = "queued"
	statusProcessing = "processing"
	statusSucceeded  = "succeeded"
	statusFailed     = "failed"
	statusCanceled   = "canceled"
)

func terminal(status string) bool {
	return status == statusSucceeded || status == statusFailed || status == statusCanceled
}

// failMessages are the messages of failed generations, by code. Like a
// real vendor's, they never quote the prompt.
var failMessages = map[string]string{
	CodeContentPolicy: "the prompt or image was flagged by the content policy",
	CodeInvalidInput:  "the requested parameters cannot be generated",
	CodeServerError:   "internal error while generating",
}

// generation is one generation. The fields above mu's line are set at
// creation and never change; the others are guarded by Server.mu.
type generation struct {
	id      string
	key     string
	req     createRequest // validated, defaults filled
	b       Behavior
	fileURL string // where its output is served
	created time.Time
	// done is closed when the generation reaches a terminal state: it stops
	// the progress goroutine.
	done chan struct{}
	// wake (capacity 1) tells the delivery goroutine that outbox changed.
	wake chan struct{}

	// Guarded by Server.mu.
	status       string
	progress     int
	errCode      string
	updated      time.Time
	expiresAt    time.Time  // of the output, once succeeded
	outbox       []delivery // webhook deliveries not sent yet
	webhooksGone bool       // the receiver answered 410: send nothing more
	reordered    bool       // ReorderWebhooks has moved the terminal delivery first
}

// generationJSON is a generation as the API returns it and webhooks carry it.
type generationJSON struct {
	ID              string      `json:"id"`
	Status          string      `json:"status"`
	Progress        int         `json:"progress"`
	Workflow        string      `json:"workflow"`
	Model           string      `json:"model"`
	DurationSeconds int         `json:"duration_seconds"`
	AspectRatio     string      `json:"aspect_ratio"`
	Resolution      string      `json:"resolution"`
	Output          *outputJSON `json:"output,omitempty"`
	Error           *errorJSON  `json:"error,omitempty"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
}

type outputJSON struct {
	VideoURL    string    `json:"video_url"`
	ContentType string    `json:"content_type"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// jsonLocked returns g's current JSON. s.mu must be held.
func (g *generation) jsonLocked() []byte {
	v := generationJSON{
		ID:              g.id,
		Status:          g.status,
		Progress:        g.progress,
		Workflow:        g.req.Workflow,
		Model:           g.req.Model,
		DurationSeconds: g.req.DurationSeconds,
		AspectRatio:     g.req.AspectRatio,
		Resolution:      g.req.Resolution,
		CreatedAt:       g.created,
		UpdatedAt:       g.updated,
	}
	switch g.status {
	case statusSucceeded:
		v.Output = &outputJSON{VideoURL: g.fileURL, ContentType: "video/mp4", ExpiresAt: g.expiresAt}
	case statusFailed:
		v.Error = &errorJSON{Code: g.errCode, Message: failMessages[g.errCode]}
	}
	body, _ := json.Marshal(v) // cannot fail: plain strings, ints and times
	return body
}

// newID returns prefix and 26 random base32 characters, lowercased.
func newID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}

// startLocked creates a generation for a validated request and starts its
// goroutines. s.mu must be held and s.closed false.
func (s *Server) startLocked(req createRequest, b Behavior, baseURL string) *generation {
	now := s.now().UTC()
	g := &generation{
		id:      newID("gen_"),
		key:     req.IdempotencyKey,
		req:     req,
		b:       b,
		created: now,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		status:  statusQueued,
		updated: now,
	}
	g.fileURL = baseURL + "/v1/files/" + g.id + ".mp4"
	s.gens[g.id] = g
	if g.key != "" {
		s.byKey[g.key] = g
	}
	if !b.Hold {
		s.wg.Add(1)
		go s.progress(g)
	}
	if s.webhooksOn(g) {
		s.wg.Add(1)
		go s.deliver(g)
	}
	return g
}

// progress moves g through processing 25, 50 and 75 % to its terminal state
// over its latency. It returns early when g finishes otherwise (cancel,
// Succeed, Fail) or the Server closes.
func (s *Server) progress(g *generation) {
	defer s.wg.Done()
	if g.req.Workflow == "image_to_video" && !s.fetchImage(g.req.ImageURL) {
		// As at real vendors: the image is fetched when the job starts,
		// and a URL that does not serve an image fails the generation.
		s.mu.Lock()
		s.transitionLocked(g, statusFailed, 0, CodeInvalidInput)
		s.mu.Unlock()
		return
	}
	step := g.b.Latency / 4
	for _, p := range []int{25, 50, 75} {
		if !s.sleep(g, step) {
			return
		}
		s.mu.Lock()
		s.transitionLocked(g, statusProcessing, p, "")
		s.mu.Unlock()
	}
	if !s.sleep(g, g.b.Latency-3*step) {
		return
	}
	s.mu.Lock()
	s.finishLocked(g, g.b.Fail)
	s.mu.Unlock()
}

// maxImageBytes bounds the source image the simulator downloads.
const maxImageBytes = 32 << 20

// fetchImage downloads an image_to_video source image and reports whether
// the URL served an image (by its bytes). It counts the images it fetched.
func (s *Server) fetchImage(url string) bool {
	ctx, cancel := context.WithTimeout(s.life, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := s.client.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxImageBytes+1))
	if err != nil || res.StatusCode != http.StatusOK || len(body) > maxImageBytes ||
		!strings.HasPrefix(http.DetectContentType(body), "image/") {
		return false
	}
	s.imagesFetched.Add(1)
	return true
}

// ImagesFetched is how many image_to_video source images the simulator has
// downloaded successfully.
func (s *Server) ImagesFetched() int64 { return s.imagesFetched.Load() }

// sleep waits d, and reports false if g finished or the Server closed first.
func (s *Server) sleep(g *generation, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		select { // a zero d must not win over a finished g
		case <-g.done:
			return false
		case <-s.life.Done():
			return false
		default:
			return true
		}
	case <-g.done:
		return false
	case <-s.life.Done():
		return false
	}
}

// finishLocked moves g to succeeded, or to failed with code fail.
func (s *Server) finishLocked(g *generation, fail string) {
	if fail != "" {
		s.transitionLocked(g, statusFailed, g.progress, fail)
		return
	}
	s.transitionLocked(g, statusSucceeded, 100, "")
}

// transitionLocked moves g to status unless it is terminal already, and
// queues the webhook delivery of the new state. s.mu must be held.
func (s *Server) transitionLocked(g *generation, status string, progress int, errCode string) {
	if terminal(g.status) {
		return
	}
	now := s.now().UTC()
	g.status, g.progress, g.errCode, g.updated = status, progress, errCode, now
	if status == statusSucceeded {
		g.expiresAt = now.Add(g.b.OutputExpiresAfter)
		g.fileURL += "?" + s.files.Query(g.id, g.expiresAt)
	}
	if terminal(status) {
		close(g.done)
	}
	if s.webhooksOn(g) {
		g.outbox = append(g.outbox, delivery{id: newID("msg_"), body: g.jsonLocked(), terminal: terminal(status)})
		select {
		case g.wake <- struct{}{}:
		default: // already signalled
		}
	}
}

// webhooksOn reports whether g's state changes are delivered at all.
func (s *Server) webhooksOn(g *generation) bool {
	return g.req.WebhookURL != "" && !g.b.DropWebhooks
}
