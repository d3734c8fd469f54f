package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/vidgate/vidgate/blob/imgcheck/imgchecktest"
	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

const uploadMutation = `mutation($file: Upload!) { uploadSourceAsset(file: $file) { id mimeType sizeBytes width height sha256 createdAt expiresAt } }`

// multipartBody is a GraphQL multipart request (operations, map, file)
// carrying data as the variable $file.
func multipartBody(t *testing.T, query, filename, contentType string, data []byte) (body []byte, formType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"file": nil}})
	mw.WriteField("operations", string(ops))
	mw.WriteField("map", `{"0": ["variables.file"]}`)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="0"; filename="`+filename+`"`)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	part, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// upload sends a real multipart request as who.
func (e *env) upload(t *testing.T, who, filename, contentType string, data []byte) response {
	t.Helper()
	body, ct := multipartBody(t, uploadMutation, filename, contentType, data)
	return e.raw(t, who, ct, body)
}

func encodePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noisePNG is a PNG that does not compress: about 4*w*h bytes.
func noisePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.NewChaCha8([32]byte{1}).Read(img.Pix)
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombHeaderPNG is a PNG signature and IHDR claiming 100000x100000 pixels,
// with a real CRC, then a tiny IDAT and IEND.
func bombHeaderPNG(t *testing.T) []byte {
	t.Helper()
	small := encodePNG(t, 64, 64)
	// Rewrite the IHDR's width and height, then its CRC.
	out := bytes.Clone(small)
	copy(out[16:24], []byte{0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0})
	crc := crc32IEEE(out[12:29])
	copy(out[29:33], []byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	return out
}

func countSourceAssets(t *testing.T, db *bun.DB) int {
	t.Helper()
	n, err := db.NewSelect().Table("source_assets").Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestUploadSourceAsset(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnvWith(t, db, server.Config{MaxBodyBytes: 64 << 10, MaxUploadBytes: 48 << 10})
		img := encodePNG(t, 80, 64)
		r := e.upload(t, "alice", "holiday.png", "image/png", img).ok(t)
		id := r.str("uploadSourceAsset.id")
		if r.str("uploadSourceAsset.mimeType") != "image/png" || r.get("uploadSourceAsset.width") != 80.0 ||
			r.get("uploadSourceAsset.height") != 64.0 || r.get("uploadSourceAsset.sizeBytes") != float64(len(img)) ||
			len(r.str("uploadSourceAsset.sha256")) != 64 || r.str("uploadSourceAsset.expiresAt") == "" {
			t.Errorf("uploadSourceAsset = %v, want the 80x64 PNG with an expiry", r.Data)
		}
		stored, err := e.store.SourceAssetByPublicID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored.StorageKey, "holiday") || !strings.HasSuffix(stored.StorageKey, ".png") {
			t.Errorf("storage key %q is derived from the file name, or lacks the sniffed type", stored.StorageKey)
		}
		// The file name says nothing; the bytes decide.
		e.upload(t, "alice", "photo.jpg", "", img).ok(t)
		e.upload(t, "ada", "x", "application/octet-stream", encodeJPEG(t, 64, 64)).ok(t)

		tests := []struct {
			name, filename, contentType string
			data                        []byte
			reason                      string
		}{
			{"png named .jpg declared image/jpeg", "photo.jpg", "image/jpeg", img, "TYPE_MISMATCH"},
			{"png declared text/html", "x.png", "text/html", img, "TYPE_MISMATCH"},
			{"gif", "anim.gif", "image/gif", encodeGIF(t, 64, 64), "UNSUPPORTED_TYPE"},
			{"html named .png", "x.png", "image/png", []byte("<html><script>alert(1)</script></html>"), "UNSUPPORTED_TYPE"},
			{"empty", "x.png", "image/png", nil, "EMPTY"},
			{"truncated png", "x.png", "image/png", img[:len(img)/2], "CORRUPT"},
			{"truncated jpeg", "x.jpg", "image/jpeg", func() []byte { j := encodeJPEG(t, 64, 64); return j[:len(j)-40] }(), "CORRUPT"},
			{"png + zip polyglot", "x.png", "image/png", append(bytes.Clone(img), "PK\x03\x04zipzipzip"...), "TRAILING_DATA"},
			{"jpeg + html polyglot", "x.jpg", "image/jpeg", append(encodeJPEG(t, 64, 64), "<html><script>x()</script>"...), "TRAILING_DATA"},
			{"too small", "x.png", "", encodePNG(t, 32, 32), "DIMENSIONS"},
			{"decompression bomb header", "x.png", "image/png", bombHeaderPNG(t), "DIMENSIONS"},
			{"over the file limit", "x.png", "image/png", noisePNG(t, 140, 140), "TOO_LARGE"},
		}
		for _, tt := range tests {
			r := e.upload(t, "alice", tt.filename, tt.contentType, tt.data)
			if len(r.Errors) != 1 || r.Errors[0].code() != "BAD_USER_INPUT" || r.Errors[0].field() != "file" ||
				r.Errors[0].Extensions["reason"] != tt.reason || r.status != http.StatusOK {
				t.Errorf("%s: %d %+v, want BAD_USER_INPUT on file with reason %s", tt.name, r.status, r.Errors, tt.reason)
			}
		}
		if n := countSourceAssets(t, db); n != 3 {
			t.Errorf("%d source assets stored, want the 3 accepted", n)
		}

		// Past the transport's limit: refused before the body is read.
		huge := bytes.Repeat([]byte{0x89}, 200<<10)
		r = e.upload(t, "alice", "x.png", "image/png", huge)
		if r.wantError(t, "PAYLOAD_TOO_LARGE", ""); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized upload status = %d, want 413", r.status)
		}
		// The same without a Content-Length (chunked): cut off while reading.
		body, ct := multipartBody(t, uploadMutation, "x.png", "image/png", huge)
		req, _ := http.NewRequest("POST", e.url+"/graphql", io.MultiReader(bytes.NewReader(body)))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+e.tokens["alice"])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(raw), "PAYLOAD_TOO_LARGE") {
			t.Errorf("chunked oversized upload = %d %s, want 413 PAYLOAD_TOO_LARGE", res.StatusCode, raw)
		}

		e.upload(t, "rita", "x.png", "image/png", img).wantError(t, "FORBIDDEN", "")
		r = e.upload(t, "", "x.png", "image/png", img)
		if r.wantError(t, "UNAUTHENTICATED", ""); r.status != http.StatusUnauthorized {
			t.Errorf("anonymous upload status = %d, want 401", r.status)
		}
		// A multipart request that breaks the spec: gqlgen's refusal, with a code.
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("operations", `{"query": "`+uploadMutation+`", "variables": {"file": null}}`)
		mw.Close()
		e.raw(t, "alice", mw.FormDataContentType(), b.Bytes()).wantError(t, "BAD_REQUEST", "")
		if n := countSourceAssets(t, db); n != 3 {
			t.Errorf("%d source assets stored, want still 3", n)
		}
	})
}

// A 16-bit 4096×4096 PNG (128 MiB decoded, a small file) is refused over
// HTTP as bad input with a reason a client can branch on, and a message
// saying what to send instead.
func TestUploadOverDecodeBudget(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		r := e.upload(t, "alice", "scan.png", "image/png", imgchecktest.PNG(4096, 4096, 16, 6))
		if len(r.Errors) != 1 || r.Errors[0].code() != "BAD_USER_INPUT" || r.Errors[0].field() != "file" ||
			r.Errors[0].Extensions["reason"] != "DECODED_TOO_LARGE" || !strings.Contains(r.Errors[0].Message, "8 bits per channel") {
			t.Errorf("16-bit 4096x4096 PNG: %d %+v, want BAD_USER_INPUT on file with reason DECODED_TOO_LARGE", r.status, r.Errors)
		}
		if n := countSourceAssets(t, db); n != 0 {
			t.Errorf("%d source assets stored, want none", n)
		}
	})
}

func TestCreateImageToVideo(t *testing.T) {
	jobstest.ForEachBackend(t, func(t *testing.T, db *bun.DB) {
		e := newEnv(t, db)
		id := e.upload(t, "alice", "a.png", "image/png", encodePNG(t, 64, 64)).ok(t).str("uploadSourceAsset.id")
		in := func(wf, asset string) map[string]any {
			return map[string]any{"workflowType": wf, "prompt": "the lighthouse, waves rolling in", "sourceAssetId": asset}
		}
		e.create(t, "bob", in("IMAGE_TO_VIDEO", id)).wantError(t, "NOT_FOUND", "input.sourceAssetId")
		e.create(t, "alice", in("IMAGE_TO_VIDEO", "00000000-0000-4000-8000-000000000000")).wantError(t, "NOT_FOUND", "input.sourceAssetId")
		e.create(t, "alice", in("TEXT_TO_VIDEO", id)).wantError(t, "BAD_USER_INPUT", "input.sourceAssetId")
		e.create(t, "alice", map[string]any{"workflowType": "IMAGE_TO_VIDEO", "prompt": "x"}).wantError(t, "BAD_USER_INPUT", "input.sourceAssetId")
		if n := countJobs(t, e.store); n != 0 {
			t.Fatalf("refused creates stored %d jobs", n)
		}
		r := e.create(t, "alice", in("IMAGE_TO_VIDEO", id)).ok(t)
		if r.str("createVideoJob.job.workflowType") != "IMAGE_TO_VIDEO" || r.str("createVideoJob.job.status") != "QUEUED" {
			t.Errorf("createVideoJob = %v, want a QUEUED IMAGE_TO_VIDEO job", r.Data)
		}
		job := e.do(t, "alice", `query($id: ID!) { job(id: $id) { sourceAssetId } }`, map[string]any{"id": r.str("createVideoJob.job.id")}).ok(t)
		if got := job.str("job.sourceAssetId"); got != id {
			t.Errorf("job.sourceAssetId = %q, want %q", got, id)
		}
	})
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
