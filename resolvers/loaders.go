package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/vidgate/vidgate/jobs"
)

// loaders batch the children of a page of jobs into one query per kind:
// asking for events, artifacts and reviews of 100 jobs costs three queries,
// not three hundred. A fresh set is made per operation, so nothing is cached
// across requests or users.
type loaders struct {
	events    *dataloadgen.Loader[int64, []*jobs.Event]
	artifacts *dataloadgen.Loader[int64, []*jobs.Artifact]
	reviews   *dataloadgen.Loader[int64, []*jobs.Review]
}

type loadersKey struct{}

func newLoaders(svc *jobs.Service) *loaders {
	wait := dataloadgen.WithWait(2 * time.Millisecond)
	return &loaders{
		events:    dataloadgen.NewLoader(batch(svc.EventsOf), wait),
		artifacts: dataloadgen.NewLoader(batch(svc.ArtifactsOf), wait),
		reviews:   dataloadgen.NewLoader(batch(svc.ReviewsOf), wait),
	}
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

// LoaderMiddleware gives every GraphQL operation its own dataloaders. It
// works for every transport, since it wraps the operation, not the HTTP
// request.
func LoaderMiddleware(svc *jobs.Service) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(context.WithValue(ctx, loadersKey{}, newLoaders(svc)))
	}
}

func loadersFrom(ctx context.Context, svc *jobs.Service) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(svc) // outside an operation (tests): unbatched but correct
}
