package blob

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// A file written in parts is read back whole with Concat, each part keeps
// its metadata, List finds the parts in key order, and a part whose source
// broke, or that had no bytes, leaves nothing behind: a resumed copy can
// trust every part it lists.
func TestParts(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := be.open(t, Options{})
			ctx := t.Context()
			file := patterned(mp4Head, 2500)
			meta := map[string]string{"etag": `"abc"`, "total": "2500"}
			keys := []string{"ingest/j/1/s/000000000000", "ingest/j/1/s/000000001000", "ingest/j/1/s/000000002000"}
			for i, k := range keys {
				n, err := b.PutPart(ctx, k, bytes.NewReader(file[i*1000:min((i+1)*1000, len(file))]), meta)
				if err != nil || n != int64(min(1000, len(file)-i*1000)) {
					t.Fatalf("PutPart(%s) = %d, %v", k, n, err)
				}
			}
			if n, err := b.PutPart(ctx, "ingest/j/1/s/000000003000", &failingReader{after: 700}, meta); !errors.Is(err, errSource) || n != 0 {
				t.Errorf("PutPart(failing reader) = %d, %v; want the reader's error", n, err)
			}
			if n, err := b.PutPart(ctx, "ingest/j/1/s/000000004000", bytes.NewReader(nil), meta); err != nil || n != 0 {
				t.Errorf("PutPart(empty) = %d, %v; want 0, nil", n, err)
			}

			objs, err := b.List(ctx, "ingest/j/1/")
			if err != nil {
				t.Fatal(err)
			}
			want := []Object{{keys[0], 1000}, {keys[1], 1000}, {keys[2], 500}}
			if !reflect.DeepEqual(objs, want) {
				t.Errorf("List = %v, want %v (no broken or empty part)", objs, want)
			}
			if got, err := b.Metadata(ctx, keys[1]); err != nil || !reflect.DeepEqual(got, meta) {
				t.Errorf("Metadata = %v, %v; want %v", got, err, meta)
			}

			r := b.Concat(ctx, keys)
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, file) {
				t.Errorf("Concat read %d bytes (%v), want the %d-byte file", len(got), err, len(file))
			}
			r = b.Concat(ctx, []string{keys[0], "ingest/j/1/s/gone"})
			if _, err := io.ReadAll(r); !errors.Is(err, ErrNotFound) {
				t.Errorf("Concat over a missing part: %v, want ErrNotFound", err)
			}
			r.Close()
			if _, err := b.List(ctx, "ingest/j"); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("List without a trailing slash: %v, want ErrInvalidKey", err)
			}
		})
	}
}
