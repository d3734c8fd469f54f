package veo

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/vidgate/vidgate/providers"
)

// ConfirmTimeout bounds the GET of the operation with which
// VerifyWebhook confirms a notification.
const ConfirmTimeout = 5 * time.Second

// VerifyWebhook authenticates a Gemini API completion notification and
// returns the state of its operation as Google reports it now. The
// notification's signature scheme is unconfirmed here, so the delivery is
// only a hint:
//
//  1. the request's "token" query parameter must equal
//     Config.CallbackToken (constant-time compare), else
//     CodeUnauthenticated, and nothing is asked of Google;
//  2. the body is read for one thing, the operation's name
//     ("models/{model}/operations/{id}"), wherever the notification puts
//     it: exactly one distinct such string must appear (none, several, or
//     a body that is not JSON: CodeInvalidInput);
//  3. the operation is read from Google (GET /v1beta/{name}, within
//     ConfirmTimeout and r's context), and that answer, never the body, is
//     the returned Status. An operation Google does not know is
//     CodeNotFound; a failed GET has the GET's (transient) code.
//
// The EventID is "<name>:<confirmed state>": Google's retries of one
// notification, and late copies of a state already seen, deduplicate, and
// a forged body cannot mint events.
func (d *Driver) VerifyWebhook(r *http.Request, body []byte) (providers.Webhook, error) {
	if err := d.token.Verify("veo", r); err != nil {
		return providers.Webhook{}, err
	}
	name, err := operationName(body)
	if err != nil {
		return providers.Webhook{}, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(ConfirmTimeout, d.api.Timeout()))
	defer cancel()
	var op operation
	if err := d.api.Call(ctx, "webhook confirm", http.MethodGet, "/v1beta/"+escapePath(name), nil, &op); err != nil {
		return providers.Webhook{}, err
	}
	st := d.status(name, &op)
	return providers.Webhook{EventID: name + ":" + string(st.State), Status: st}, nil
}

// maxNameDepth bounds how deep in the notification operationName looks.
const maxNameDepth = 8

// operationName finds the one operation name a notification carries. Its
// layout is not documented in a form vidgate could check (go-genai has the
// request side only), so rather than guess a field, it takes the single
// distinct string anywhere in the JSON (to maxNameDepth levels) that is an
// operation name; opPattern keeps a forged body from steering the
// confirming GET anywhere else.
func operationName(body []byte) (string, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "", &providers.Error{Code: providers.CodeInvalidInput, Message: "veo webhook: body is not JSON", Err: err}
	}
	found := map[string]bool{}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > maxNameDepth {
			return
		}
		switch v := v.(type) {
		case string:
			if opPattern.MatchString(v) {
				found[v] = true
			}
		case []any:
			for _, e := range v {
				walk(e, depth+1)
			}
		case map[string]any:
			for _, e := range v {
				walk(e, depth+1)
			}
		}
	}
	walk(v, 0)
	switch len(found) {
	case 0:
		return "", providers.Errorf(providers.CodeInvalidInput, "veo webhook: body names no operation")
	case 1:
		for name := range found {
			return name, nil
		}
	}
	return "", providers.Errorf(providers.CodeInvalidInput, "veo webhook: body names %d operations, want one", len(found))
}
