package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vidgate/vidgate/jobs/jobstest"
	"github.com/vidgate/vidgate/server"
)

// ideIntrospection is graphql-js's getIntrospectionQuery (as GraphiQL
// sends it, with deprecated arguments and input values): what every IDE
// asks, which the limits must let through.
const ideIntrospection = `query IntrospectionQuery {
  __schema {
    description queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
    kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

// Aliases and introspection are fields like any: an operation of 2,450
// `job { prompt }` aliases, or introspection fanning out types → fields →
// type → fields → args (past gqlparser's own rule, which counts fields but
// not types or args), is refused with COMPLEXITY_LIMIT_EXCEEDED (200, no data) before
// anything runs.
func TestFieldLimits(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, jobstest.SQLite(t), server.Config{}) // the default 1 MiB body limit
	id := e.createID(t, "alice", "a lighthouse at dusk")

	if r := e.do(t, "alice", ideIntrospection, nil); len(r.Errors) > 0 || r.get("__schema.types") == nil {
		t.Fatalf("the IDE introspection query was refused: %+v", r.Errors)
	}
	if r := e.do(t, "alice", fmt.Sprintf(`{ a: job(id: %q) { prompt } b: job(id: %q) { prompt } }`, id, id), nil).ok(t); r.str("a.prompt") != "a lighthouse at dusk" {
		t.Fatalf("two aliases = %+v, want the prompt twice", r.Data)
	}

	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 2450 {
		fmt.Fprintf(&aliases, " a%d: job(id: %q) { prompt }", i, id)
	}
	aliases.WriteString(" }")
	// Fragments spreading each other double the fields at each level: the
	// count must stop at the limit, not expand all 2^20.
	bomb := "{ ...F0 }"
	for i := range 20 {
		bomb += fmt.Sprintf(" fragment F%d on Query { a: viewer { id } ...F%d b: viewer { id } }", i, i+1)
	}
	bomb += " fragment F20 on Query { viewer { id } }"
	bomb = strings.ReplaceAll(bomb, "{ a: viewer { id } ...F", "{ ...F")
	for i := range 20 { // each fragment spreads the next twice
		bomb = strings.Replace(bomb, fmt.Sprintf("{ ...F%d b:", i+1), fmt.Sprintf("{ ...F%d ...F%d b:", i+1, i+1), 1)
	}

	for name, q := range map[string]string{
		"2450 aliases":          aliases.String(),
		"introspection fan-out": `{ __schema { types { name fields { name type { name fields { name args { name type { name } } } } } } } }`,
		"fragment doubling":     bomb,
	} {
		t.Run(name, func(t *testing.T) {
			before := e.queries.Load()
			r := e.do(t, "alice", q, nil)
			if got := r.wantError(t, "COMPLEXITY_LIMIT_EXCEEDED", ""); r.status != http.StatusOK || r.Data != nil {
				t.Errorf("%d %q with data %v, want 200 and no data", r.status, got.Message, r.Data)
			}
			if n := e.queries.Load() - before; n > 0 {
				t.Errorf("%d database queries ran, want none", n)
			}
		})
	}
}
