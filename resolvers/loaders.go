package resolvers

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/vidgate/vidgate/jobs"
)

// loaders batch the children of a page of jobs into one query per kind:
// asking for events, artifacts and reviews of 100 jobs costs three queries,
// not three hundred. A fresh set is made per query or mutation, so nothing
// is cached across requests or users (subscriptions have none: see
// LoaderMiddleware). Each loader is made when first used: an operation that
// never asks for a kind does not hold its loader.
type loaders struct {
	svc *jobs.Service

	eventsOnce, artifactsOnce, reviewsOnce sync.Once

	eventsL    *dataloadgen.Loader[int64, []*jobs.Event]
	artifactsL *dataloadgen.Loader[int64, []*jobs.Artifact]
	reviewsL   *dataloadgen.Loader[int64, []*jobs.Review]
}

type loadersKey struct{}

var loaderWait = dataloadgen.WithWait(2 * time.Millisecond)

func newLoaders(svc *jobs.Service) *loaders { return &loaders{svc: svc} }

func (l *loaders) events() *dataloadgen.Loader[int64, []*jobs.Event] {
	l.eventsOnce.Do(func() { l.eventsL = dataloadgen.NewLoader(batch(l.svc.EventsOf), loaderWait) })
	return l.eventsL
}

func (l *loaders) artifacts() *dataloadgen.Loader[int64, []*jobs.Artifact] {
	l.artifactsOnce.Do(func() { l.artifactsL = dataloadgen.NewLoader(batch(l.svc.ArtifactsOf), loaderWait) })
	return l.artifactsL
}

func (l *loaders) reviews() *dataloadgen.Loader[int64, []*jobs.Review] {
	l.reviewsOnce.Do(func() { l.reviewsL = dataloadgen.NewLoader(batch(l.svc.ReviewsOf), loaderWait) })
	return l.reviewsL
}

// batch adapts a "children of these jobs" store call to a loader's fetch.
func batch[T any](fetch func(context.Context, []int64) (map[int64][]T, error)) func(context.Context, []int64) ([][]T, []error) {
	return func(ctx context.Context, ids []int64) ([][]T, []error) {
		m, err := fetch(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		out := make([][]T, len(ids))
		for i, id := range ids {
			out[i] = m[id]
		}
		return out, nil
	}
}

// LoaderMiddleware gives every GraphQL query and mutation its own
// dataloaders. It works for every transport, since it wraps the operation,
// not the HTTP request. A subscription gets none: its operation lives as
// long as the subscription, and a loader would answer every later event
// with what it read for the first (a job's reviews as they were before
// the review); each event reads afresh instead.
func LoaderMiddleware(svc *jobs.Service) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
			return next(ctx)
		}
		return next(context.WithValue(ctx, loadersKey{}, newLoaders(svc)))
	}
}

func loadersFrom(ctx context.Context, svc *jobs.Service) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(svc) // outside an operation (tests): unbatched but correct
}
