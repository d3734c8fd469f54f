package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A 200 MB output is copied into the bucket with the heap staying far below
// the file's size: it streams from the provider to the bucket, and its
// metadata is read with range reads. Not parallel: the heap is the
// process's.
func TestLargeArtifactBoundedMemory(t *testing.T) {
	d := deploy(t, backends(t)[0], options{})
	const size = 200_000_000

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	id := d.create(t, "a long take of the sea [sim output_size=200MB]")
	r := d.waitFor(t, id, 120*time.Second, "COMPLETED")
	close(stop)
	wg.Wait()

	a := r.List("job.artifacts")[0]
	if a["sizeBytes"].(float64) < size || a["width"] != 1280.0 || a["durationSeconds"] != 5.0 {
		t.Fatalf("artifact = %v, want at least %d bytes of 1280-wide, 5-second video", a, size)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use: %d MiB before, %d MiB at peak while copying %d MiB", base.HeapInuse>>20, peak.Load()>>20, int64(a["sizeBytes"].(float64))>>20)
	if growth > 48<<20 {
		t.Errorf("heap grew by %d MiB while copying a %d MiB file, want well under (≤ 48 MiB)", growth>>20, size>>20)
	}

	// The stored bytes are what the artifact says.
	res, err := http.Get(a["downloadUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, res.Body)
	if err != nil || float64(n) != a["sizeBytes"] || hex.EncodeToString(h.Sum(nil)) != a["sha256"] {
		t.Errorf("download: %d bytes, sha256 %x, %v; want %v bytes with sha256 %v", n, h.Sum(nil), err, a["sizeBytes"], a["sha256"])
	}
}
