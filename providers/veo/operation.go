package veo

import (
	"net/url"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// operation is a long-running operation as predictLongRunning and
// GET /v1beta/{name} return it. Google leaves "done" out while it is false.
// The field names are the wire's, as go-genai's models.go reads them for
// the Gemini Developer API (generateVideosOperationFromMldev,
// generateVideosResponseFromMldev, generatedVideoFromMldev,
// videoFromMldev): a sample's video is {uri, encodedVideo, encoding}, and
// the SDK's Video.MIMEType is filled from "encoding" — the wire has no
// "mimeType" there.
type operation struct {
	Name     string     `json:"name"`
	Done     bool       `json:"done"`
	Error    *rpcStatus `json:"error"`
	Response *struct {
		GenerateVideoResponse *struct {
			GeneratedSamples []struct {
				Video struct {
					URI string `json:"uri"`
					// Encoding is the video's media type, e.g. "video/mp4".
					Encoding string `json:"encoding"`
				} `json:"video"`
			} `json:"generatedSamples"`
			RaiMediaFilteredCount   int      `json:"raiMediaFilteredCount"`
			RaiMediaFilteredReasons []string `json:"raiMediaFilteredReasons"`
		} `json:"generateVideoResponse"`
	} `json:"response"`
}

// rpcStatus is a google.rpc.Status: a failed operation's error.
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// vendorFiltered is Error.VendorCode for a video Google's Responsible AI
// filters removed: the name of the field that reports it.
const vendorFiltered = "raiMediaFiltered"

// status converts an operation to a providers.Status:
//
//	not done                             StateProcessing (Progress 0: unknown)
//	done, error code 1 (CANCELLED)       StateCanceled
//	done, other error                    StateFailed, code from the rpc code (rpcClass)
//	done, samples with video URIs        StateSucceeded, one OutputVideo each,
//	                                     URL without key, ExpiresAt now + 48 h
//	done, no samples, filtered reasons   StateFailed, CodeContentPolicy, reasons kept
//	done, nothing                        StateFailed, CodeUnknown
func (d *Driver) status(id string, op *operation) providers.Status {
	st := providers.Status{RequestID: id}
	if !op.Done {
		st.State = providers.StateProcessing
		return st
	}
	if e := op.Error; e != nil {
		code, name := rpcClass(e.Code)
		if e.Code == 1 {
			st.State = providers.StateCanceled
			return st
		}
		msg := "veo operation failed"
		if e.Message != "" {
			msg += ": " + d.api.Redactor().Redact(e.Message)
		}
		st.State, st.Error = providers.StateFailed, &providers.Error{Code: code, Message: msg, VendorCode: name}
		return st
	}
	var reasons []string
	if op.Response != nil && op.Response.GenerateVideoResponse != nil {
		r := op.Response.GenerateVideoResponse
		reasons = r.RaiMediaFilteredReasons
		expires := d.api.Now().Add(OutputTTL)
		for _, s := range r.GeneratedSamples {
			if s.Video.URI == "" || d.outputURL(s.Video.URI) == "" {
				continue
			}
			ct := s.Video.Encoding
			if ct == "" {
				ct = "video/mp4"
			}
			st.Outputs = append(st.Outputs, providers.Output{
				URL:         d.outputURL(s.Video.URI),
				Kind:        providers.OutputVideo,
				ContentType: ct,
				ExpiresAt:   expires,
			})
		}
	}
	switch {
	case len(st.Outputs) > 0:
		st.State = providers.StateSucceeded
	case len(reasons) > 0:
		st.State = providers.StateFailed
		st.Error = &providers.Error{
			Code:       providers.CodeContentPolicy,
			Message:    "veo filtered the video: " + d.api.Redactor().Redact(strings.Join(reasons, "; ")),
			VendorCode: vendorFiltered,
		}
	default:
		st.State = providers.StateFailed
		st.Error = providers.Errorf(providers.CodeUnknown, "veo operation done without a video")
	}
	return st
}

// outputURL is the Output.URL of a video's uri: uri without a "key" query
// parameter, should Google ever put one there, since Output.URLs are
// queued, stored and may be logged; Download adds the key to the request.
// It returns "" for a uri that quotes the API key anywhere else: such a
// URL is not stored at all.
func (d *Driver) outputURL(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Query().Has("key") {
		q := u.Query()
		q.Del("key")
		u.RawQuery = q.Encode()
		uri = u.String()
	}
	if strings.Contains(uri, d.apiKey) {
		return ""
	}
	return uri
}

// rpcClass classifies a google.rpc.Code and names it.
func rpcClass(code int) (providers.Code, string) {
	switch code {
	case 1:
		return providers.CodeUnknown, "CANCELLED"
	case 3:
		return providers.CodeInvalidInput, "INVALID_ARGUMENT"
	case 4:
		return providers.CodeUnavailable, "DEADLINE_EXCEEDED"
	case 5:
		return providers.CodeUnknown, "NOT_FOUND"
	case 7:
		return providers.CodeUnauthenticated, "PERMISSION_DENIED"
	case 8:
		return providers.CodeUnavailable, "RESOURCE_EXHAUSTED"
	case 9:
		return providers.CodeInvalidInput, "FAILED_PRECONDITION"
	case 10:
		return providers.CodeUnavailable, "ABORTED"
	case 11:
		return providers.CodeInvalidInput, "OUT_OF_RANGE"
	case 12:
		return providers.CodeUnimplemented, "UNIMPLEMENTED"
	case 13:
		return providers.CodeUnavailable, "INTERNAL"
	case 14:
		return providers.CodeUnavailable, "UNAVAILABLE"
	case 16:
		return providers.CodeUnauthenticated, "UNAUTHENTICATED"
	default:
		return providers.CodeUnknown, ""
	}
}
