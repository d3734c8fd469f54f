package replicate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// prediction is the part of Replicate's prediction object the driver reads.
type prediction struct {
	ID     string          `json:"id"`
	Model  string          `json:"model"`
	Status string          `json:"status"`
	Input  predictionInput `json:"input"`
	Output json.RawMessage `json:"output"`
	// DataRemoved: Replicate deleted the input and output files (an hour
	// after an API prediction finished); Output is null then.
	DataRemoved bool            `json:"data_removed"`
	Error       json.RawMessage `json:"error"`
	Logs        string          `json:"logs"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   time.Time       `json:"started_at"`
	CompletedAt time.Time       `json:"completed_at"`
}

// predictionInput is what the driver reads back from a prediction's input:
// what to keep out of error messages.
type predictionInput struct {
	Prompt          string `json:"prompt"`
	NegativePrompt  string `json:"negative_prompt"`
	Image           string `json:"image"`
	StartImage      string `json:"start_image"`
	FirstFrameImage string `json:"first_frame_image"`
}

func (in predictionInput) image() string {
	return cmp.Or(in.Image, in.StartImage, in.FirstFrameImage)
}

// UnmarshalJSON tolerates a prediction whose input fields are not strings
// (an image given as a file object, a numeric prompt): they are only read
// for redaction.
func (in *predictionInput) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil // null or not an object: nothing to redact
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(raw[k], &s)
		return s
	}
	*in = predictionInput{Prompt: str("prompt"), Image: str("image"), StartImage: str("start_image"), FirstFrameImage: str("first_frame_image")}
	return nil
}

// status converts a prediction to a providers.Status; r redacts vendor
// error text. It returns an error for a prediction without an id or with a
// status it does not know.
func (p *prediction) status(r providers.Redactor) (providers.Status, error) {
	if p.ID == "" {
		return providers.Status{}, errors.New("no id")
	}
	st := providers.Status{RequestID: p.ID}
	switch p.Status {
	case "starting":
		st.State = providers.StateQueued
	case "processing":
		st.State, st.Progress = providers.StateProcessing, logProgress(p.Logs)
	case "succeeded":
		st.State, st.Progress = providers.StateSucceeded, 100
		if p.DataRemoved {
			// The generation succeeded; its files are gone. Not a failed
			// generation: succeeded without outputs, which the engine
			// fails as artifact unavailable, with Error saying why.
			st.Error = &providers.Error{Code: providers.CodeNotFound, VendorCode: "data_removed",
				Message: "replicate: the prediction succeeded, but Replicate has deleted its output (data_removed: outputs are kept an hour)"}
			return st, nil
		}
		st.Outputs = outputs(p.Output, p.expiresAt())
		if !slices.ContainsFunc(st.Outputs, func(o providers.Output) bool { return o.Kind == providers.OutputVideo }) {
			st.State, st.Outputs = providers.StateFailed, nil
			st.Error = &providers.Error{Code: providers.CodeUnknown, VendorCode: "no_video_output",
				Message: "replicate: prediction succeeded without a video output"}
		}
	case "failed":
		st.State = providers.StateFailed
		st.Error = failure(errorText(p.Error), r)
	case "canceled", "aborted":
		st.State = providers.StateCanceled
	default:
		return providers.Status{}, fmt.Errorf("unknown status %q", p.Status)
	}
	return st, nil
}

// expiresAt is when Replicate deletes the outputs: OutputTTL after the
// prediction finished, or after the latest earlier timestamp it has; zero
// without any.
func (p *prediction) expiresAt() time.Time {
	for _, t := range []time.Time{p.CompletedAt, p.StartedAt, p.CreatedAt} {
		if !t.IsZero() {
			return t.Add(OutputTTL)
		}
	}
	return time.Time{}
}

// progressRE matches a tqdm progress bar, "45%|████     | 9/20".
var progressRE = regexp.MustCompile(`(\d{1,3})%\|`)

// logProgress returns the percentage of the last progress bar in logs, or 0.
func logProgress(logs string) int {
	m := progressRE.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return min(max(n, 0), 100)
}

// outputs returns the files of an "output" value: a URL, a list of URLs, or
// an object whose values are URLs (in key order). Anything else (data URIs,
// numbers, nested objects) is skipped.
func outputs(raw json.RawMessage, expires time.Time) []providers.Output {
	var urls []string
	var one string
	var list []json.RawMessage
	var obj map[string]json.RawMessage
	switch {
	case json.Unmarshal(raw, &one) == nil:
		urls = []string{one}
	case json.Unmarshal(raw, &list) == nil:
		for _, v := range list {
			if json.Unmarshal(v, &one) == nil {
				urls = append(urls, one)
			}
		}
	case json.Unmarshal(raw, &obj) == nil:
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if json.Unmarshal(obj[k], &one) == nil {
				urls = append(urls, one)
			}
		}
	}
	var out []providers.Output
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		kind, ct := classifyFile(u.Path)
		out = append(out, providers.Output{URL: s, Kind: kind, ContentType: ct, ExpiresAt: expires})
	}
	return out
}

// classifyFile returns the kind and content type of a file by its
// extension; one without a known extension is taken for a video (the engine
// sniffs the bytes anyway).
func classifyFile(p string) (kind, contentType string) {
	switch strings.ToLower(path.Ext(p)) {
	case ".mp4", ".m4v":
		return providers.OutputVideo, "video/mp4"
	case ".webm":
		return providers.OutputVideo, "video/webm"
	case ".mov":
		return providers.OutputVideo, "video/quicktime"
	case ".jpg", ".jpeg":
		return providers.OutputThumbnail, "image/jpeg"
	case ".png":
		return providers.OutputThumbnail, "image/png"
	case ".webp":
		return providers.OutputThumbnail, "image/webp"
	case ".gif":
		return providers.OutputThumbnail, "image/gif"
	}
	return providers.OutputVideo, ""
}

// errorText returns a prediction's "error": a string, or the JSON of
// anything else.
func errorText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if t := strings.TrimSpace(string(raw)); t != "" && t != "null" {
		return t
	}
	return ""
}

// Words that classify a failed prediction's error; see the package doc.
var (
	contentPolicyWords = []string{"nsfw", "flagged", "sensitive", "safety", "content policy", "content_policy", "moderation", "inappropriate"}
	vendorSideWords    = []string{"out of memory", "cuda", "interrupted", "timed out", "timeout", "internal error", "unexpected error", "please retry", "try again later"}
	invalidInputWords  = []string{"invalid", "must be", "validation", "unsupported", "too small", "too large", "too long", "download", "cannot identify image", "not a valid"}
)

// errorCodeRE matches the code Replicate appends to some errors, "(E005)".
var errorCodeRE = regexp.MustCompile(`\((E\d{3,5})\)`)

// failure classifies the error text of a failed prediction.
func failure(text string, r providers.Redactor) *providers.Error {
	e := &providers.Error{Code: classifyText(text), Message: "replicate: prediction failed"}
	if m := errorCodeRE.FindStringSubmatch(text); m != nil {
		e.VendorCode = m[1]
	}
	if msg := r.Redact(text); msg != "" {
		e.Message = "replicate: " + msg
	}
	return e
}

// classifyText maps vendor error text to a code by the words it contains.
func classifyText(text string) providers.Code {
	lower := strings.ToLower(text)
	has := func(words []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(lower, w) })
	}
	switch {
	case has(contentPolicyWords):
		return providers.CodeContentPolicy
	case has(vendorSideWords):
		return providers.CodeUnavailable
	case has(invalidInputWords):
		return providers.CodeInvalidInput
	}
	return providers.CodeUnknown
}
