// Package vidgate is the root of the vidgate module: a GraphQL gateway and job
// engine for AI video generation. The code lives in the sub-packages; see
// docs/architecture.md for the map.
package vidgate

//go:generate go tool gqlgen generate --config gqlgen.yml
