// Package resolvers implements the GraphQL schema in graph/. Resolvers are
// thin: they read the actor from the context, convert GraphQL input into a
// jobs call, and convert the result back. Validation and authorization live
// in package jobs.
package resolvers

import (
	"context"
	"time"

	"github.com/vidgate/vidgate/jobs"
	"github.com/vidgate/vidgate/jobs/broker"
)

// URLSigner signs download URLs for stored artifacts (a *blob.Bucket).
type URLSigner interface {
	SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Resolver is the dependency injection point of the GraphQL layer.
type Resolver struct {
	Service *jobs.Service
	// Files signs artifact download URLs, valid for DownloadTTL.
	Files       URLSigner
	DownloadTTL time.Duration
	// Broker feeds the subscriptions; nil turns them off (UNAVAILABLE).
	Broker *broker.Broker
}
