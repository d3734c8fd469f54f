package sim

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// An image_to_video generation fetches its image when it starts: a URL
// that serves an image lets it succeed, anything else fails it.
func TestImageToVideoFetchesTheImage(t *testing.T) {
	t.Parallel()
	var pngData bytes.Buffer
	png.Encode(&pngData, image.NewGray(image.Rect(0, 0, 8, 8)))
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.png":
			w.Write(pngData.Bytes())
		case "/page.png":
			w.Write([]byte("<!doctype html><p>not an image</p>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(files.Close)
	srv, d := newDriver(t, Config{Defaults: Behavior{Latency: 20 * time.Millisecond}})
	tests := []struct {
		path string
		want providers.State
	}{
		{"/a.png", providers.StateSucceeded},
		{"/page.png", providers.StateFailed},
		{"/missing.png", providers.StateFailed},
	}
	for _, tt := range tests {
		req := textRequest("a lighthouse")
		req.Workflow, req.SourceImageURL = providers.WorkflowImageToVideo, files.URL+tt.path
		id, err := d.Submit(t.Context(), req)
		if err != nil {
			t.Fatalf("Submit(%s) = %v", tt.path, err)
		}
		waitState(t, d, id, tt.want)
	}
	if n := srv.ImagesFetched(); n != 1 {
		t.Errorf("ImagesFetched() = %d, want 1", n)
	}
}
