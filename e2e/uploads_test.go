package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/server"
	"github.com/vidgate/vidgate/server/gqltest"
)

// uploadAPI starts an API process over the deployment whose service
// stores uploads in the deployment's bucket, and returns its URL.
func (d *deployment) uploadAPI(t *testing.T) string {
	t.Helper()
	store := jobs.NewStore(d.db, nil)
	jobs.NewRelay(store, d.queue, jobs.RelayConfig{Logger: d.log})
	svc, err := jobs.NewService(store, d.vault, jobs.ServiceConfig{
		Providers: d.reg.Names(), Files: d.bucket, Logger: d.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(svc, d.bucket, d.authn, server.Config{Logger: d.log}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// uploadImage sends data as a GraphQL multipart upload to apiURL as who
// and returns the decoded response.
func uploadImage(t *testing.T, apiURL, token string, data []byte) gqltest.Response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("operations", `{"query": "mutation($f: Upload!) { uploadSourceAsset(file: $f) { id mimeType width height } }", "variables": {"f": null}}`)
	mw.WriteField("map", `{"img": ["variables.f"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="img"; filename="product.png"`)
	h.Set("Content-Type", "image/png")
	part, _ := mw.CreatePart(h)
	part.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", apiURL+"/graphql", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r gqltest.Response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("upload response is not JSON (%d): %s", res.StatusCode, raw)
	}
	r.Status = res.StatusCode
	return r
}

// An uploaded image becomes an IMAGE_TO_VIDEO job that the simulated
// provider generates from the image, fetched through the signed URL the
// worker gave it, to COMPLETED.
func TestImageToVideoFromUpload(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		d := deploy(t, b, options{})
		api := d.uploadAPI(t)
		img := image.NewRGBA(image.Rect(0, 0, 160, 90))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		img.Set(0, 0, color.White)
		var data bytes.Buffer
		if err := png.Encode(&data, img); err != nil {
			t.Fatal(err)
		}
		up := uploadImage(t, api, d.tokens["alice"], data.Bytes()).OK(t)
		assetID := up.Str("uploadSourceAsset.id")
		if up.Str("uploadSourceAsset.mimeType") != "image/png" || up.Get("uploadSourceAsset.width") != 160.0 {
			t.Fatalf("uploadSourceAsset = %v, want a 160x90 PNG", up.Data)
		}

		create := `mutation($a: ID!) { createVideoJob(input: {workflowType: IMAGE_TO_VIDEO, prompt: "the product turning slowly", sourceAssetId: $a}) { job { id status sourceAssetId } } }`
		bob := gqltest.Client{URL: api + "/graphql", Token: d.tokens["bob"]}
		bob.Do(t, create, map[string]any{"a": assetID}).WantError(t, "NOT_FOUND", "input.sourceAssetId")

		alice := gqltest.Client{URL: api + "/graphql", Token: d.tokens["alice"]}
		r := alice.Do(t, create, map[string]any{"a": assetID}).OK(t)
		if r.Str("createVideoJob.job.sourceAssetId") != assetID {
			t.Fatalf("createVideoJob = %v, want the job to name asset %s", r.Data, assetID)
		}
		d.waitFor(t, r.Str("createVideoJob.job.id"), 15*time.Second, "COMPLETED")
		if n := d.sim.ImagesFetched(); n != 1 {
			t.Errorf("the simulated provider fetched %d source images, want 1", n)
		}
	})
}
