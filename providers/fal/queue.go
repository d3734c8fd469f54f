package fal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// statusResponse is fal's answer to a status call.
type statusResponse struct {
	Status        string `json:"status"`
	RequestID     string `json:"request_id"`
	QueuePosition *int   `json:"queue_position"`
	ResponseURL   string `json:"response_url"`
	// Error and ErrorType are not in fal's documented status shape; some
	// answers carry them for a failed request, and the driver uses them
	// when present.
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

// Status returns the state of request id: its queue status and, once
// COMPLETED, its result.
func (d *Driver) Status(ctx context.Context, id string) (providers.Status, error) {
	app, rid, err := d.parseRequestID(id)
	if err != nil {
		return providers.Status{}, err
	}
	var sr statusResponse
	if err := d.api.Call(ctx, "status", http.MethodGet, d.endpoint(requestIDOf(app, rid)+"/status").String(), nil, &sr); err != nil {
		return providers.Status{}, err
	}
	st := providers.Status{RequestID: id}
	switch strings.ToUpper(sr.Status) {
	case "IN_QUEUE":
		st.State = providers.StateQueued
		return st, nil
	case "IN_PROGRESS":
		st.State = providers.StateProcessing
		return st, nil
	case "COMPLETED":
	default:
		// fal's clients know these three statuses only; fal documents no
		// canceled one, and the driver invents none.
		return providers.Status{}, providers.Errorf(providers.CodeUnknown, "fal status: unknown status %q", providers.Clip(sr.Status, 40))
	}
	if sr.Error != "" || sr.ErrorType != "" {
		f := classify(0, sr.ErrorType, []byte(`{"detail":`+quote(sr.Error)+`}`), d.api.Redactor().Redact)
		return f.status(id), nil
	}
	resultURL := d.endpoint(requestIDOf(app, rid)).String()
	if sr.ResponseURL != "" && d.sameOrigin(sr.ResponseURL) {
		resultURL = sr.ResponseURL
	}
	resp, data, err := d.api.Do(ctx, "result", http.MethodGet, resultURL, nil)
	if err != nil {
		return providers.Status{}, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resultStatus(id, data), nil
	}
	return d.resultFailure(id, resp, data)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// resultFailure turns a result that did not load into the request's
// outcome, or into an error of the call; see the package doc.
func (d *Driver) resultFailure(id string, resp *http.Response, data []byte) (providers.Status, error) {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		return providers.Status{}, d.api.Error("result", resp, data)
	}
	headerType := resp.Header.Get("X-Fal-Error-Type")
	if resp.StatusCode >= 500 && headerType == "" && !hasFalError(data) {
		// A proxy's answer on the way: the request's outcome is unknown.
		return providers.Status{}, d.api.Error("result", resp, data)
	}
	return classify(resp.StatusCode, headerType, data, d.api.Redactor().Redact).status(id), nil
}

// hasFalError reports whether body is one of fal's error shapes.
func hasFalError(body []byte) bool {
	var e errorBody
	return json.Unmarshal(body, &e) == nil && (len(e.Detail) > 0 && string(e.Detail) != "null" || e.ErrorType != "")
}

// fileJSON is a file in a fal result.
type fileJSON struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	FileName    string `json:"file_name"`
	FileSize    int64  `json:"file_size"`
}

// resultJSON is the part of a video model's result the driver reads.
type resultJSON struct {
	Video     *fileJSON  `json:"video"`
	Videos    []fileJSON `json:"videos"`
	Thumbnail *fileJSON  `json:"thumbnail"`
	Image     *fileJSON  `json:"image"`
}

// resultStatus converts a successful result (or webhook payload) to a
// Status: succeeded with its files, or failed if there is no video.
func resultStatus(id string, payload []byte) providers.Status {
	st := providers.Status{RequestID: id, State: providers.StateSucceeded, Progress: 100}
	var r resultJSON
	_ = json.Unmarshal(payload, &r) // no video either way
	add := func(f *fileJSON, kind string) {
		if f == nil || !httpURL(f.URL) {
			return
		}
		ct := f.ContentType
		if kind == providers.OutputVideo && ct == "" {
			ct = "video/mp4"
		}
		st.Outputs = append(st.Outputs, providers.Output{URL: f.URL, Kind: kind, ContentType: ct})
	}
	add(r.Video, providers.OutputVideo)
	for i := range r.Videos {
		add(&r.Videos[i], providers.OutputVideo)
	}
	if len(st.Outputs) == 0 {
		return providers.Status{RequestID: id, State: providers.StateFailed, Progress: 100, Error: &providers.Error{
			Code: providers.CodeUnknown, VendorCode: "no_video_output", Message: "fal: result without a video"}}
	}
	add(r.Thumbnail, providers.OutputThumbnail)
	add(r.Image, providers.OutputThumbnail)
	return st
}

func httpURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// Cancel asks fal to cancel request id. fal documents three answers (see
// the package doc): 202 CANCELLATION_REQUESTED and 400 ALREADY_COMPLETED
// return nil, 404 NOT_FOUND CodeNotFound; anything else is classified as
// any other call's answer. A nil return says only that fal took the
// request: fal reports no canceled state afterwards, and the engine decides
// the job's state itself.
func (d *Driver) Cancel(ctx context.Context, id string) error {
	app, rid, err := d.parseRequestID(id)
	if err != nil {
		return err
	}
	resp, data, err := d.api.Do(ctx, "cancel", http.MethodPut, d.endpoint(requestIDOf(app, rid)+"/cancel").String(), nil)
	if err != nil {
		return err
	}
	var body struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(data, &body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		// 202 CANCELLATION_REQUESTED: removed from the queue, or the
		// runner signalled (it may still complete).
		return nil
	case resp.StatusCode == http.StatusBadRequest && body.Status == cancelAlreadyCompleted:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return providers.Errorf(providers.CodeNotFound, "fal cancel: no request %s", rid)
	}
	return d.api.Error("cancel", resp, data)
}

// cancelAlreadyCompleted is the status of fal's 400 answer to canceling a
// request that has finished.
const cancelAlreadyCompleted = "ALREADY_COMPLETED"
