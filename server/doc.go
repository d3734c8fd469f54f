// Package server assembles vidgate's HTTP surface: the GraphQL endpoint
// (gqlgen) with its limits, error codes and authentication, the IDE, signed
// file downloads, and the health checks.
//
// Routes:
//
//	POST /graphql   GraphQL over HTTP (authenticated)
//	GET  /graphql   queries over GET (authenticated)
//	GET  /          the GraphQL IDE (embedded; loads nothing from elsewhere)
//	GET  /ide/…     its script and style sheet
//	GET  /files/…   signed, expiring artifact downloads
//	GET  /healthz   the process is alive
//	GET  /readyz    the database answers
package server
