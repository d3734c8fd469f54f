package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// withUploads gives multipart requests (uploads) their own body limit of
// max bytes, and makes their refusals look like every other error of the
// API. Other requests pass to next unchanged, under withBodyLimit.
//
// gqlgen's multipart transport answers a body cut short by the limit, or a
// malformed multipart request, with its own JSON and without
// extensions.code, and a request error (a document that does not parse or
// validate) with 422 and "data": null. So the response of a multipart
// request is buffered (it is one small JSON document) and: when the body
// went over max, replaced by 413 PAYLOAD_TOO_LARGE; otherwise any error
// without a code gets BAD_REQUEST (HTTP 400), and a request error gets the
// status and body httpJSON gives one (no data entry; 200 under
// application/json, 400 under application/graphql-response+json).
func withUploads(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isMultipart(r) {
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge,
				"upload request is larger than "+strconv.FormatInt(max, 10)+" bytes: the file is over the upload size limit")
		}
		if r.ContentLength > max {
			tooLarge()
			return
		}
		body := &overLimit{r: http.MaxBytesReader(w, r.Body, max)}
		r.Body = body
		rec := &bufferedResponse{header: w.Header(), status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if body.hit {
			tooLarge()
			return
		}
		requestError := rec.status == http.StatusUnprocessableEntity
		out, malformed := withCodes(rec.body.Bytes(), requestError)
		status := rec.status
		switch {
		case malformed:
			status = http.StatusBadRequest
		case requestError && responseMediaType(r.Header.Get("Accept")) == mediaGraphQLResponse:
			status = http.StatusBadRequest
			w.Header().Set("Content-Type", mediaGraphQLResponse+"; charset=utf-8")
		case requestError:
			status = http.StatusOK
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(status)
		w.Write(out)
	})
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data" && r.Method == http.MethodPost
}

// overLimit remembers whether reading the body hit its MaxBytesReader.
type overLimit struct {
	r   io.ReadCloser
	hit bool
}

func (o *overLimit) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		o.hit = true
	}
	return n, err
}

func (o *overLimit) Close() error { return o.r.Close() }

// bufferedResponse holds a response until the handler is done with it.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

// withCodes gives every error in a GraphQL JSON response that lacks
// extensions.code the code BAD_REQUEST, reporting whether any did
// (malformed); with noData, it drops the data entry. Anything else is
// returned as is.
func withCodes(raw []byte, noData bool) (out []byte, malformed bool) {
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return raw, false
	}
	errs, _ := doc["errors"].([]any)
	changed := false
	if _, ok := doc["data"]; ok && noData {
		delete(doc, "data")
		changed = true
	}
	for _, e := range errs {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		ext, _ := m["extensions"].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			m["extensions"] = ext
		}
		if _, ok := ext["code"]; !ok {
			ext["code"] = codeBadRequest
			changed, malformed = true, true
		}
	}
	if !changed {
		return raw, malformed
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return raw, malformed
	}
	return append(out, '\n'), malformed
}
