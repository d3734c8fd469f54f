package sim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vidgate/vidgate/providers"
	"github.com/vidgate/vidgate/providers/sim"
)

// The simulator mounted under /sim in another mux, as vidgate's embedded
// default does, and driven through its Driver.
func Example() {
	srv := sim.New(sim.Config{Prefix: "/sim", APIKey: "sk_local", Defaults: sim.Behavior{Latency: 20 * time.Millisecond}})
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/sim/", srv)
	ts := httptest.NewServer(mux) // or http.ListenAndServe(":8080", mux)
	defer ts.Close()

	d := sim.NewDriver(ts.URL+"/sim", "sk_local", srv.WebhookSecret(), nil)
	ctx := context.Background()
	id, err := d.Submit(ctx, providers.Request{
		IdempotencyKey: "job-42-attempt-1",
		Workflow:       providers.WorkflowTextToVideo,
		Prompt:         "a red fox in the snow [sim fail=content_policy]",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		st, err := d.Status(ctx, id)
		if err != nil {
			fmt.Println(err)
			return
		}
		if st.State.Terminal() {
			fmt.Println(st.State, st.Error.Code, st.Error.VendorCode)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output: failed CONTENT_POLICY content_policy
}
