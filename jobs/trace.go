package jobs

import "context"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request that caused the
// work: an API request, a webhook delivery — and, through the queue, the
// tasks that follow from them, so one id ties the log lines of a change
// together from the API through the stream to the worker.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestData adds ctx's request id to a task's data.
func withRequestData(ctx context.Context, data map[string]string) map[string]string {
	id := RequestID(ctx)
	if id == "" {
		return data
	}
	if data == nil {
		data = map[string]string{}
	}
	if _, ok := data["request_id"]; !ok {
		data["request_id"] = id
	}
	return data
}

// TaskData is data for a task that follows from the work in ctx: data
// plus ctx's request id.
func TaskData(ctx context.Context, data map[string]string) map[string]string {
	return withRequestData(ctx, data)
}
