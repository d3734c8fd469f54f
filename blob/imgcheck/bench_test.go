package imgcheck

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/vidgate/vidgate/blob/imgcheck/imgchecktest"
)

// BenchmarkCheckLarge measures what checking one upload at the default
// limits allocates (B/op is about the peak heap: the decoded canvas
// dominates). Run with:
//
//	go test -run='^$' -bench=CheckLarge -benchmem ./blob/imgcheck/
func BenchmarkCheckLarge(b *testing.B) {
	for _, c := range []struct {
		name                  string
		w, h, depth, colorTyp int
	}{
		{"png-4096x4096-rgba16", 4096, 4096, 16, 6},
		{"png-4096x4096-rgb16", 4096, 4096, 16, 2},
		{"png-4096x4096-rgba8", 4096, 4096, 8, 6},
	} {
		data := imgchecktest.PNG(c.w, c.h, c.depth, c.colorTyp)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Check(data, "", Limits{})
			}
		})
	}
}

// BenchmarkSixConcurrentUploads checks six uploads at once, as in issue
// #16, and reports the peak of live heap objects (sampled every
// millisecond) as peak-MiB: "before" is no decode budget and no gate,
// "after" the defaults (64 MiB budget, 2 decodes at once). Run with:
//
//	go test -run='^$' -bench=SixConcurrent -benchtime=3x ./blob/imgcheck/
func BenchmarkSixConcurrentUploads(b *testing.B) {
	rgba16 := imgchecktest.PNG(4096, 4096, 16, 6)
	rgba8 := imgchecktest.PNG(4096, 4096, 8, 6)
	for _, c := range []struct {
		name string
		data []byte
		lim  Limits
		gate *Gate
	}{
		{"before/png-rgba16", rgba16, Limits{MaxDecodedBytes: 1 << 40}, nil},
		{"after/png-rgba16", rgba16, Limits{}, NewGate(2, time.Minute)},
		{"before/png-rgba8", rgba8, Limits{}, nil},
		{"after/png-rgba8", rgba8, Limits{}, NewGate(2, time.Minute)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				runtime.GC()
				stop := make(chan struct{})
				sampled := make(chan uint64)
				go func() {
					s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
					var top uint64
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						metrics.Read(s)
						top = max(top, s[0].Value.Uint64())
						select {
						case <-stop:
							sampled <- top
							return
						case <-tick.C:
						}
					}
				}()
				var wg sync.WaitGroup
				for range 6 {
					wg.Go(func() { c.gate.Check(context.Background(), c.data, "", c.lim) })
				}
				wg.Wait()
				close(stop)
				peak = max(peak, <-sampled)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
	}
}
