package veo

import (
	"net/url"
	"strings"

	"github.com/vidgate/vidgate/providers"
)

// operation is a long-running operation as predictLongRunning and
// GET /v1beta/{name} return it. Google leaves "done" out while it is false.
type operation struct {
	Name     string     `json:"name"`
	Done     bool       `json:"done"`
	Error    *rpcStatus `json:"error"`
	Response *struct {
		GenerateVideoResponse *struct {
			GeneratedSamples []struct {
				Video struct {
					URI      string `json:"uri"`
					MimeType string `json:"mimeType"`
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
//	                                     URL with key=, ExpiresAt now + 48 h
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
			msg += ": " + d.redactKey(clip(e.Message))
		}
		st.State, st.Error = providers.StateFailed, &providers.Error{Code: code, Message: msg, VendorCode: name}
		return st
	}
	var reasons []string
	if op.Response != nil && op.Response.GenerateVideoResponse != nil {
		r := op.Response.GenerateVideoResponse
		reasons = r.RaiMediaFilteredReasons
		expires := d.now().Add(OutputTTL)
		for _, s := range r.GeneratedSamples {
			if s.Video.URI == "" {
				continue
			}
			ct := s.Video.MimeType
			if ct == "" {
				ct = "video/mp4"
			}
			st.Outputs = append(st.Outputs, providers.Output{
				// SECRET: this URL carries the API key (see Status).
				URL:         d.withKey(s.Video.URI),
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
			Message:    "veo filtered the video: " + d.redactKey(clip(strings.Join(reasons, "; "))),
			VendorCode: vendorFiltered,
		}
	default:
		st.State = providers.StateFailed
		st.Error = providers.Errorf(providers.CodeUnknown, "veo operation done without a video")
	}
	return st
}

// withKey returns uri with the API key added as its "key" query parameter,
// which Google's download URLs accept in place of the x-goog-api-key
// header, if uri is on the API's own host; any other URL is returned as it
// is, so the key never goes to a host that is not Google's API.
func (d *Driver) withKey(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != d.base.Scheme || u.Host != d.base.Host {
		return uri
	}
	q := u.Query()
	q.Set("key", d.apiKey)
	u.RawQuery = q.Encode()
	return u.String()
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
