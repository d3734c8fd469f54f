package imgcheck

import (
	"testing"

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
