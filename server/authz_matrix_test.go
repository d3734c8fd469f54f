package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// fixture is a fresh set of alice's jobs for one cell of the matrix.
type fixture struct {
	queued    string // QUEUED: not in review
	completed string // COMPLETED: in review
	canceled  string // CANCELED: retryable
	image     string // COMPLETED from a source image; only for cells whose setup makes it
}

func (e *env) fixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{
		queued:    e.createID(t, "alice", "matrix prompt queued"),
		completed: e.createID(t, "alice", "matrix prompt completed"),
		canceled:  e.createID(t, "alice", "matrix prompt canceled"),
	}
	e.complete(t, f.completed)
	e.do(t, "alice", `mutation($id: ID!) { cancelVideoJob(id: $id) { id } }`, map[string]any{"id": f.canceled}).ok(t)
	return f
}

// writes is a fingerprint of everything a request could write: rows of
// every table an API call touches, and the sum of job versions (which any
// change of a job increases).
func writes(t *testing.T, db *bun.DB) string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, table := range []string{"video_jobs", "video_job_events", "video_job_prompts", "video_reviews", "audit_log", "api_keys", "source_assets"} {
		n, err := db.NewSelect().Table(table).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	var versions int64
	if err := db.NewSelect().Table("video_jobs").ColumnExpr("coalesce(sum(version), 0)").Scan(ctx, &versions); err != nil {
		t.Fatal(err)
	}
	return strings.Join(append(out, fmt.Sprintf("versions=%d", versions)), " ")
}

// outcome is what a cell observed: the error code ("" for success) and the
// data of a success.
type outcome struct {
	code string
	data map[string]any
}

func (o outcome) get(path string) any { return response{Data: o.data}.get(path) }

func fromResponse(r response) outcome {
	if len(r.Errors) > 0 {
		return outcome{code: r.Errors[0].code()}
	}
	return outcome{data: r.Data}
}

// subscribeFirst opens a WebSocket as who, subscribes, and returns the
// first result: the first next message's data, or the error's code. until,
// when set, keeps reading next messages until it returns true (the data
// of each is passed to it), for at most wait.
func (e *env) subscribeFirst(t *testing.T, who, query string, vars map[string]any, wait time.Duration, until func(map[string]any) bool) outcome {
	t.Helper()
	conn, typ, err := e.wsInit(t, who)
	if err != nil || typ != "connection_ack" {
		t.Fatalf("connection_init as %s = %q, %v; want connection_ack", who, typ, err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	var first *outcome
	for end := time.Now().Add(wait); time.Now().Before(end); {
		conn.SetReadDeadline(end)
		var m struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := conn.ReadJSON(&m); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				break
			}
			if _, ok := err.(*websocket.CloseError); ok || first != nil {
				break
			}
			t.Fatalf("subscription as %s: %v", who, err)
		}
		if m.ID != "1" {
			continue
		}
		switch m.Type {
		case "error":
			var errs []gqlError
			json.Unmarshal(m.Payload, &errs)
			if len(errs) == 0 {
				t.Fatalf("error message without errors: %s", m.Payload)
			}
			return outcome{code: errs[0].code()}
		case "next":
			var r response
			json.Unmarshal(m.Payload, &r)
			if len(r.Errors) > 0 {
				return outcome{code: r.Errors[0].code()}
			}
			if first == nil {
				first = &outcome{data: r.Data}
			}
			if until == nil || until(r.Data) {
				return *first
			}
		case "complete":
			if first != nil {
				return *first
			}
			return outcome{code: "COMPLETE_WITHOUT_DATA"}
		}
	}
	if first != nil {
		return *first
	}
	return outcome{code: "NO_MESSAGE"}
}

// TestAuthorizationMatrix exercises every cell of README's "Who may do
// what" table over the real GraphQL endpoint — queries and mutations over
// HTTP, subscriptions over a WebSocket — as a user who owns the jobs
// (alice), a user who does not (bob), a reviewer (rita) and an admin (ada).
// Allowed cells must succeed and show what the role may see; denied cells
// must fail with the documented code and write nothing.
func TestAuthorizationMatrix(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		b := liveBroker(t)
		e := newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10, Broker: b, MaxConnectionsPerIdentity: -1})
		e.store.OnCommit(jobs.PublishChanges(b, slog.New(slog.NewTextHandler(io.Discard, nil))))
		// Something in the audit log for admins to read.
		if _, _, err := e.store.CreateAPIKey(context.Background(), "partner-1", jobs.RoleUser, "shop"); err != nil {
			t.Fatal(err)
		}

		const (
			jobQ     = `query($id: ID!) { job(id: $id) { id status prompt } }`
			listQ    = `{ jobs(first: 100) { edges { node { id } } } }`
			promptQ  = `query($id: ID!) { job(id: $id) { prompt } }`
			cancelM  = `mutation($id: ID!) { cancelVideoJob(id: $id) { id status } }`
			retryM   = `mutation($id: ID!) { retryVideoJob(id: $id) { id status parentId } }`
			statsQ   = `query($since: Time!) { stats(since: $since) { jobsCreated } }`
			auditQ   = `{ auditLog(first: 5) { edges { node { action } } } }`
			statusS  = `subscription($id: ID!) { jobStatus(id: $id) { id status } }`
			myJobsS  = `subscription { myJobs { id status } }`
			reviewsS = `subscription { reviewQueue { id status } }`
			sourceQ  = `query($id: ID!) { job(id: $id) { sourceImageUrl } }`
			claimM   = `mutation($id: ID!) { claimReview(id: $id) { jobId reviewerId expiresAt } }`
			releaseM = `mutation($id: ID!) { releaseReview(id: $id) { id reviewClaim { reviewerId } } }`
			claimQ   = `query($id: ID!) { job(id: $id) { reviewClaim { reviewerId } } }`
		)
		do := func(who, q string, vars map[string]any) outcome { return fromResponse(e.do(t, who, q, vars)) }
		// One of alice's uploads, for the "use a source image" row.
		img := encodePNG(t, 64, 64)
		aliceAsset := e.upload(t, "alice", "matrix.png", "image/png", img).ok(t).str("uploadSourceAsset.id")
		upload := func(who string) func(fixture) outcome {
			return func(fixture) outcome { return fromResponse(e.upload(t, who, "matrix.png", "image/png", img)) }
		}
		fromAsset := func(who string) func(fixture) outcome {
			return func(fixture) outcome {
				return fromResponse(e.create(t, who, map[string]any{"workflowType": "IMAGE_TO_VIDEO", "prompt": "matrix from image", "sourceAssetId": aliceAsset}))
			}
		}
		listed := func(o outcome, id string) bool {
			edges, _ := o.get("jobs.edges").([]any)
			return slices.ContainsFunc(edges, func(x any) bool { return x.(map[string]any)["node"].(map[string]any)["id"] == id })
		}
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

		type cell struct {
			row, who string
			want     string // "" allowed, else the error code
			// run performs the cell's request on a fresh fixture.
			run func(f fixture) outcome
			// check, for an allowed cell, says what is wrong with its result.
			check func(f fixture, o outcome) string
			// setup, when set, prepares the fixture before the writes are
			// fingerprinted.
			setup func(f *fixture)
		}
		status := func(path, want string) func(fixture, outcome) string {
			return func(_ fixture, o outcome) string {
				if got, _ := o.get(path).(string); got != want {
					return fmt.Sprintf("%s = %q, want %s", path, got, want)
				}
				return ""
			}
		}
		create := func(who string) func(fixture) outcome {
			return func(fixture) outcome {
				return fromResponse(e.create(t, who, map[string]any{"prompt": "matrix create"}))
			}
		}
		onQueued := func(who, q string) func(fixture) outcome {
			return func(f fixture) outcome { return do(who, q, map[string]any{"id": f.queued}) }
		}
		onCompleted := func(who, q string) func(fixture) outcome {
			return func(f fixture) outcome { return do(who, q, map[string]any{"id": f.completed}) }
		}
		onCanceled := func(who, q string) func(fixture) outcome {
			return func(f fixture) outcome { return do(who, q, map[string]any{"id": f.canceled}) }
		}
		review := func(who string, approveIt bool) func(fixture) outcome {
			return func(f fixture) outcome {
				if approveIt {
					return do(who, approve, map[string]any{"id": f.completed})
				}
				return do(who, reject, map[string]any{"id": f.completed, "reasons": []string{"LABEL_UNREADABLE"}})
			}
		}
		list := func(who string) func(fixture) outcome { return func(fixture) outcome { return do(who, listQ, nil) } }
		sees := func(queued, completed bool) func(fixture, outcome) string {
			return func(f fixture, o outcome) string {
				if listed(o, f.queued) != queued || listed(o, f.completed) != completed {
					return fmt.Sprintf("jobs lists queued=%v completed=%v, want %v %v", listed(o, f.queued), listed(o, f.completed), queued, completed)
				}
				return ""
			}
		}
		jobStatus := func(who string, id func(fixture) string) func(fixture) outcome {
			return func(f fixture) outcome {
				return e.subscribeFirst(t, who, statusS, map[string]any{"id": id(f)}, 5*time.Second, nil)
			}
		}
		queuedID := func(f fixture) string { return f.queued }
		completedID := func(f fixture) string { return f.completed }
		// myJobs: the caller's own jobs only. The owner hears alice's change;
		// everyone else makes a change of their own (rita cannot: she waits)
		// after alice's and must not hear alice's first.
		myJobs := func(who string) func(fixture) outcome {
			return func(f fixture) outcome {
				var own string
				if who != "rita" {
					own = e.createID(t, who, "own job of "+who)
				}
				// The changes are made while the subscription runs: alice's
				// job first, then (for bob and ada) their own, which ends
				// the wait. They are made once the first message is in
				// (the caller's jobs, read after the subscription went
				// live). Plain HTTP: no t in this goroutine.
				changed := make(chan struct{})
				var started atomic.Bool
				change := func() {
					if !started.CompareAndSwap(false, true) {
						return
					}
					go func() {
						defer close(changed)
						post(e.url, e.tokens["alice"], cancelM, map[string]any{"id": f.queued})
						if own != "" && who != "alice" {
							post(e.url, e.tokens[who], cancelM, map[string]any{"id": own})
						}
					}()
				}
				wait := 5 * time.Second
				if own == "" {
					wait = 1500 * time.Millisecond // rita has no job of her own to wait for
					// Nor a first message: nothing a client sees tells
					// when her subscription is live, so alice's change
					// comes after a pause (most likely after it is, not
					// surely). The one sleep left in these tests.
					go func() {
						time.Sleep(300 * time.Millisecond)
						change()
					}()
				}
				seen := []string{}
				o := e.subscribeFirst(t, who, myJobsS, nil, wait, func(d map[string]any) bool {
					change()
					u, _ := d["myJobs"].(map[string]any)
					id, _ := u["id"].(string)
					seen = append(seen, id)
					return u["status"] == "CANCELED" && ((own != "" && who != "alice" && id == own) || (who == "alice" && id == f.queued))
				})
				if started.Load() {
					<-changed
				}
				if o.code == "NO_MESSAGE" && own == "" {
					o.code = "" // accepted, and silent: rita owns nothing
				}
				if o.code == "" {
					o.data = map[string]any{"seen": seen}
				}
				return o
			}
		}
		myJobsCheck := func(who string) func(fixture, outcome) string {
			return func(f fixture, o outcome) string {
				seen, _ := o.data["seen"].([]string)
				heardAlice := slices.Contains(seen, f.queued)
				if heardAlice != (who == "alice") {
					return fmt.Sprintf("%s heard %v; alice's job %s heard = %v, want %v", who, seen, f.queued, heardAlice, who == "alice")
				}
				return ""
			}
		}
		reviewQueue := func(who string) func(fixture) outcome {
			return func(f fixture) outcome {
				return e.subscribeFirst(t, who, reviewsS, nil, 5*time.Second, func(d map[string]any) bool {
					u, _ := d["reviewQueue"].(map[string]any)
					return u["id"] == f.completed
				})
			}
		}
		promptIs := func(want any) func(fixture, outcome) string {
			return func(_ fixture, o outcome) string {
				if got := o.get("job.prompt"); got != want {
					return fmt.Sprintf("job.prompt = %v, want %v", got, want)
				}
				return ""
			}
		}
		// audited says what is wrong unless who's read of action on the
		// target is in the audit log (or, with want false, is not).
		audited := func(who string, action jobs.AuditAction, target func(fixture) string, want bool) func(fixture) string {
			return func(f fixture) string {
				es, err := e.store.ListAudit(context.Background(), jobs.AuditFilter{Action: string(action), Actor: who, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var got bool
				for _, en := range es {
					got = got || en.TargetID == target(f)
				}
				if got != want {
					return fmt.Sprintf("audit %s by %s on %s = %v, want %v", action, who, target(f), got, want)
				}
				return ""
			}
		}
		both := func(checks ...func(fixture, outcome) string) func(fixture, outcome) string {
			return func(f fixture, o outcome) string {
				for _, c := range checks {
					if p := c(f, o); p != "" {
						return p
					}
				}
				return ""
			}
		}
		and := func(c func(fixture) string) func(fixture, outcome) string {
			return func(f fixture, _ outcome) string { return c(f) }
		}
		completedJob := func(f fixture) string { return f.completed }
		// withImage makes the cell's fixture a COMPLETED job of alice's
		// made from a source image.
		withImage := func(f *fixture) {
			f.image = fromResponse(e.create(t, "alice", map[string]any{"workflowType": "IMAGE_TO_VIDEO", "prompt": "matrix image job", "sourceAssetId": aliceAsset})).get("createVideoJob.job.id").(string)
			e.complete(t, f.image)
		}
		onImage := func(who string) func(fixture) outcome {
			return func(f fixture) outcome { return do(who, sourceQ, map[string]any{"id": f.image}) }
		}
		imageURL := func(f fixture, o outcome) string {
			u, _ := o.get("job.sourceImageUrl").(string)
			if !strings.HasPrefix(u, e.url+"/files/sources/") {
				return fmt.Sprintf("job.sourceImageUrl = %q, want a signed URL of the image", u)
			}
			return ""
		}
		assetOf := func(f fixture) string { return aliceAsset }
		claimedBy := func(who string) func(f *fixture) {
			return func(f *fixture) { do(who, claimM, map[string]any{"id": f.completed}) }
		}
		claimIs := func(path string, want any) func(fixture, outcome) string {
			return func(_ fixture, o outcome) string {
				if got := o.get(path); got != want {
					return fmt.Sprintf("%s = %v, want %v", path, got, want)
				}
				return ""
			}
		}
		retried := func(f fixture, o outcome) string {
			if o.get("retryVideoJob.parentId") != f.canceled || o.get("retryVideoJob.status") != "QUEUED" {
				return fmt.Sprintf("retryVideoJob = %v, want a QUEUED child of %s", o.data, f.canceled)
			}
			return ""
		}

		tests := []cell{
			// create, cancel, retry: own | no | all
			{row: "create", who: "alice", run: create("alice"), check: status("createVideoJob.job.status", "QUEUED")},
			{row: "create", who: "rita", want: "FORBIDDEN", run: create("rita")},
			{row: "create", who: "ada", run: create("ada"), check: status("createVideoJob.job.status", "QUEUED")},
			{row: "cancel", who: "alice", run: onQueued("alice", cancelM), check: status("cancelVideoJob.status", "CANCELED")},
			{row: "cancel", who: "bob", want: "NOT_FOUND", run: onQueued("bob", cancelM)},
			{row: "cancel", who: "rita", want: "NOT_FOUND", run: onQueued("rita", cancelM)},
			{row: "cancel in review", who: "rita", want: "NOT_FOUND", run: onCompleted("rita", cancelM)},
			{row: "cancel", who: "ada", run: onQueued("ada", cancelM), check: status("cancelVideoJob.status", "CANCELED")},
			{row: "retry", who: "alice", run: onCanceled("alice", retryM), check: retried},
			{row: "retry", who: "bob", want: "NOT_FOUND", run: onCanceled("bob", retryM)},
			{row: "retry", who: "rita", want: "NOT_FOUND", run: onCanceled("rita", retryM)},
			{row: "retry", who: "ada", run: onCanceled("ada", retryM), check: retried},

			// upload source images: yes | no (FORBIDDEN) | yes
			{row: "uploadSourceAsset", who: "alice", run: upload("alice"), check: status("uploadSourceAsset.mimeType", "image/png")},
			{row: "uploadSourceAsset", who: "rita", want: "FORBIDDEN", run: upload("rita")},
			{row: "uploadSourceAsset", who: "ada", run: upload("ada"), check: status("uploadSourceAsset.mimeType", "image/png")},
			// use a source image in createVideoJob: own only | no | own only
			{row: "create from own source image", who: "alice", run: fromAsset("alice"), check: status("createVideoJob.job.workflowType", "IMAGE_TO_VIDEO")},
			{row: "create from another's source image", who: "bob", want: "NOT_FOUND", run: fromAsset("bob")},
			{row: "create from another's source image", who: "rita", want: "FORBIDDEN", run: fromAsset("rita")},
			{row: "create from another's source image", who: "ada", want: "NOT_FOUND", run: fromAsset("ada")},

			// read a job, list jobs, jobStatus: own | in review | all
			{row: "read", who: "alice", run: onQueued("alice", jobQ), check: status("job.status", "QUEUED")},
			{row: "read", who: "bob", want: "NOT_FOUND", run: onQueued("bob", jobQ)},
			{row: "read not in review", who: "rita", want: "NOT_FOUND", run: onQueued("rita", jobQ)},
			{row: "read in review", who: "rita", run: onCompleted("rita", jobQ), check: status("job.status", "COMPLETED")},
			{row: "read", who: "ada", run: onQueued("ada", jobQ), check: status("job.status", "QUEUED")},
			{row: "list", who: "alice", run: list("alice"), check: sees(true, true)},
			{row: "list", who: "bob", run: list("bob"), check: sees(false, false)},
			{row: "list", who: "rita", run: list("rita"), check: sees(false, true)},
			{row: "list", who: "ada", run: list("ada"), check: sees(true, true)},
			{row: "jobStatus", who: "alice", run: jobStatus("alice", queuedID), check: status("jobStatus.status", "QUEUED")},
			{row: "jobStatus", who: "bob", want: "NOT_FOUND", run: jobStatus("bob", queuedID)},
			{row: "jobStatus not in review", who: "rita", want: "NOT_FOUND", run: jobStatus("rita", queuedID)},
			{row: "jobStatus in review", who: "rita", run: jobStatus("rita", completedID), check: status("jobStatus.status", "COMPLETED")},
			{row: "jobStatus", who: "ada", run: jobStatus("ada", queuedID), check: status("jobStatus.status", "QUEUED")},

			// raw prompt: own | in review, audited | all, audited when another's
			{row: "prompt", who: "alice", run: onCompleted("alice", promptQ),
				check: both(promptIs("matrix prompt completed"), and(audited("alice", jobs.AuditPromptRead, completedJob, false)))},
			{row: "prompt", who: "bob", want: "NOT_FOUND", run: onCompleted("bob", promptQ)},
			{row: "prompt in review", who: "rita", run: onCompleted("rita", promptQ),
				check: both(promptIs("matrix prompt completed"), and(audited("rita", jobs.AuditPromptRead, completedJob, true)))},
			{row: "prompt not in review", who: "rita", want: "NOT_FOUND", run: onQueued("rita", promptQ)},
			{row: "prompt", who: "ada", run: onCompleted("ada", promptQ),
				check: both(promptIs("matrix prompt completed"), and(audited("ada", jobs.AuditPromptRead, completedJob, true)))},

			// source image (VideoJob.sourceImageUrl): own | in review, audited | all, audited when another's
			{row: "source image", who: "alice", setup: withImage, run: onImage("alice"),
				check: both(imageURL, and(audited("alice", jobs.AuditAssetRead, assetOf, false)))},
			{row: "source image", who: "bob", want: "NOT_FOUND", setup: withImage, run: onImage("bob")},
			{row: "source image in review", who: "rita", setup: withImage, run: onImage("rita"),
				check: both(imageURL, and(audited("rita", jobs.AuditAssetRead, assetOf, true)))},
			{row: "source image", who: "ada", setup: withImage, run: onImage("ada"),
				check: both(imageURL, and(audited("ada", jobs.AuditAssetRead, assetOf, true)))},

			// claimReview: no | in review | all
			{row: "claimReview", who: "alice", want: "FORBIDDEN", run: onCompleted("alice", claimM)},
			{row: "claimReview in review", who: "rita", run: onCompleted("rita", claimM), check: claimIs("claimReview.reviewerId", "rita")},
			{row: "claimReview not in review", who: "rita", want: "NOT_FOUND", run: onQueued("rita", claimM)},
			{row: "claimReview", who: "ada", run: onCompleted("ada", claimM), check: claimIs("claimReview.reviewerId", "ada")},
			{row: "claimReview not COMPLETED", who: "ada", want: "CONFLICT", run: onQueued("ada", claimM)},
			{row: "claimReview claimed by another", who: "ada", want: "CONFLICT", setup: claimedBy("rita"), run: onCompleted("ada", claimM)},
			// releaseReview: no | own claim | own claim
			{row: "releaseReview", who: "alice", want: "FORBIDDEN", setup: claimedBy("rita"), run: onCompleted("alice", releaseM)},
			{row: "releaseReview", who: "rita", setup: claimedBy("rita"), run: onCompleted("rita", releaseM), check: claimIs("releaseReview.reviewClaim", nil)},
			{row: "releaseReview", who: "ada", setup: claimedBy("ada"), run: onCompleted("ada", releaseM), check: claimIs("releaseReview.reviewClaim", nil)},
			// VideoJob.reviewClaim: no (null) | yes | yes
			{row: "reviewClaim", who: "alice", setup: claimedBy("rita"), run: onCompleted("alice", claimQ), check: claimIs("job.reviewClaim", nil)},
			{row: "reviewClaim", who: "rita", setup: claimedBy("rita"), run: onCompleted("rita", claimQ), check: claimIs("job.reviewClaim.reviewerId", "rita")},
			{row: "reviewClaim", who: "ada", setup: claimedBy("rita"), run: onCompleted("ada", claimQ), check: claimIs("job.reviewClaim.reviewerId", "rita")},

			// approve / reject: no | any job | any job
			{row: "approve", who: "alice", want: "FORBIDDEN", run: review("alice", true)},
			{row: "approve", who: "rita", run: review("rita", true), check: status("approveVideoJob.status", "APPROVED")},
			{row: "approve", who: "ada", run: review("ada", true), check: status("approveVideoJob.status", "APPROVED")},
			{row: "reject", who: "alice", want: "FORBIDDEN", run: review("alice", false)},
			{row: "reject", who: "rita", run: review("rita", false), check: status("rejectVideoJob.status", "REJECTED")},
			{row: "reject", who: "ada", run: review("ada", false), check: status("rejectVideoJob.status", "REJECTED")},
			{row: "approve not completed", who: "rita", want: "NOT_FOUND", run: onQueued("rita", approve)},
			{row: "approve not completed", who: "ada", want: "CONFLICT", run: onQueued("ada", approve)},
			{row: "approve claimed by another", who: "ada", want: "CONFLICT", setup: claimedBy("rita"), run: review("ada", true)},
			{row: "reject claimed by another", who: "rita", want: "CONFLICT", setup: claimedBy("ada"), run: review("rita", false)},

			// myJobs: own | own | own
			{row: "myJobs", who: "alice", run: myJobs("alice"), check: myJobsCheck("alice")},
			{row: "myJobs", who: "bob", run: myJobs("bob"), check: myJobsCheck("bob")},
			{row: "myJobs", who: "rita", run: myJobs("rita"), check: myJobsCheck("rita")},
			{row: "myJobs", who: "ada", run: myJobs("ada"), check: myJobsCheck("ada")},

			// reviewQueue: no | yes | yes
			{row: "reviewQueue", who: "alice", want: "FORBIDDEN", run: reviewQueue("alice")},
			{row: "reviewQueue", who: "rita", run: reviewQueue("rita"), check: status("reviewQueue.status", "COMPLETED")},
			{row: "reviewQueue", who: "ada", run: reviewQueue("ada"), check: status("reviewQueue.status", "COMPLETED")},

			// stats: no | no | yes (GET /metrics: cmd/vidgate TestMetricsAuthorization)
			{row: "stats", who: "alice", want: "FORBIDDEN", run: func(fixture) outcome { return do("alice", statsQ, map[string]any{"since": since}) }},
			{row: "stats", who: "rita", want: "FORBIDDEN", run: func(fixture) outcome { return do("rita", statsQ, map[string]any{"since": since}) }},
			{row: "stats", who: "ada", run: func(fixture) outcome { return do("ada", statsQ, map[string]any{"since": since}) },
				check: func(_ fixture, o outcome) string {
					if n, _ := o.get("stats.jobsCreated").(float64); n < 3 {
						return fmt.Sprintf("stats.jobsCreated = %v, want at least the fixture's 3", o.get("stats.jobsCreated"))
					}
					return ""
				}},

			// auditLog: no | no | yes
			{row: "auditLog", who: "alice", want: "FORBIDDEN", run: func(fixture) outcome { return do("alice", auditQ, nil) }},
			{row: "auditLog", who: "rita", want: "FORBIDDEN", run: func(fixture) outcome { return do("rita", auditQ, nil) }},
			{row: "auditLog", who: "ada", run: func(fixture) outcome { return do("ada", auditQ, nil) },
				check: func(_ fixture, o outcome) string {
					if edges, _ := o.get("auditLog.edges").([]any); len(edges) == 0 {
						return "auditLog is empty, want the fixture's cancels and the API key"
					}
					return ""
				}},
		}
		for _, tt := range tests {
			f := e.fixture(t)
			if tt.setup != nil {
				tt.setup(&f)
			}
			before := writes(t, db)
			got := tt.run(f)
			name := tt.row + " as " + tt.who
			if got.code != tt.want {
				t.Errorf("%s: code %q, want %q", name, got.code, orOK(tt.want))
				continue
			}
			if tt.want != "" {
				if after := writes(t, db); after != before {
					t.Errorf("%s: refused, but wrote: before %s, after %s", name, before, after)
				}
				continue
			}
			if tt.check != nil {
				if problem := tt.check(f, got); problem != "" {
					t.Errorf("%s: %s", name, problem)
				}
			}
		}
	})
}

// post sends a GraphQL request and ignores the answer (for goroutines,
// which may not call t.Fatal).
func post(base, token, query string, vars map[string]any) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest("POST", base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if res, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func orOK(code string) string {
	if code == "" {
		return "success"
	}
	return code
}
