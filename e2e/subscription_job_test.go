package e2e

import (
	"testing"
	"time"
)

// Each update carries the job as a VideoJob — the same id and fields that
// job(id) shows — so a normalized client cache (Apollo, urql's graphcache)
// updates every query that shows the job, the review queue's included.
func TestSubscriptionCarriesVideoJob(t *testing.T) {
	d := deploy(t, backends(t)[0], options{simLatency: 100 * time.Millisecond})
	id := d.create(t, "a lighthouse at dusk")
	c := dial(t, d.url, d.tokens["alice"])
	c.ack()
	sub := c.subscribe(`subscription($id: ID!) { jobStatus(id: $id) { `+updateFields+` job { id status version provider } } }`, map[string]any{"id": id})
	got, _, _ := c.receive(sub, "jobStatus", 15*time.Second, func(us []update) bool { return us[len(us)-1].Status == "COMPLETED" })
	for _, u := range got {
		if u.Job == nil {
			t.Fatalf("update %+v has no job", u)
		}
		if u.Job.ID != u.ID || u.Job.Provider != "sim" || u.Job.Version < u.Version {
			t.Errorf("update v%d %s carries job %+v: want the same id, provider sim, a version at least the update's", u.Version, u.Status, *u.Job)
		}
	}
	last := got[len(got)-1]
	q := d.as("alice").Do(t, `query($id: ID!) { job(id: $id) { status version } }`, map[string]any{"id": id}).OK(t)
	if s := q.Str("job.status"); last.Job.Status != "COMPLETED" || s != "COMPLETED" {
		t.Errorf("last update's job status %q, job(id) %q: want COMPLETED for both", last.Job.Status, s)
	}

	review := dial(t, d.url, d.tokens["rita"])
	review.ack()
	revSub := review.subscribe(`subscription { reviewQueue { `+updateFields+` job { id status version provider reviews { decision } } } }`, nil)
	rev, _, _ := review.receive(revSub, "reviewQueue", 10*time.Second, func(us []update) bool { return us[len(us)-1].ID == id })
	if j := rev[len(rev)-1].Job; j == nil || j.ID != id || j.Status != "COMPLETED" {
		t.Errorf("review queue's job for %s = %+v, want it COMPLETED", id, j)
	}
	d.as("rita").Do(t, `mutation($id: ID!) { rejectVideoJob(id: $id, reasons: [OTHER], note: "n") { status } }`, map[string]any{"id": id}).OK(t)
	rev, _, _ = review.receive(revSub, "reviewQueue", 10*time.Second, func(us []update) bool {
		return us[len(us)-1].ID == id && us[len(us)-1].Status == "REJECTED"
	})
	if j := rev[len(rev)-1].Job; j == nil || j.Status != "REJECTED" || len(j.Reviews) != 1 || j.Reviews[0].Decision != "REJECTED" {
		t.Errorf("review queue's job after the rejection = %+v, want it REJECTED with its review (read for this event, not the first)", j)
	}
}
