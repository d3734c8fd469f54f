// Package e2e holds vidgate's end-to-end tests: a whole deployment — the
// HTTP API, two workers, the webhook intake and the simulated provider —
// runs in the test process against SQLite and an in-process Redis, and
// against PostgreSQL and Redis when VIDGATE_TEST_DATABASE_URL and
// VIDGATE_TEST_REDIS_URL are set. Tests talk to it only through its HTTP
// endpoints, as a client would.
package e2e
