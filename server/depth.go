package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations whose fields nest deeper than max. It runs
// after validation (so fragment cycles are already refused). Introspection
// fields are not counted: IDEs ask for deeply nested ofType chains, and the
// schema bounds them.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	if depth := selectionDepth(op.Operation.SelectionSet); depth > d.max {
		err := gqlerror.Errorf("operation nests %d levels deep, the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": codeDepthLimit}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		d := 0
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// fieldLimit refuses operations that select more than maxFields fields, and
// introspection that nests more than maxIntrospectionLists list fields
// along one path. gqlgen's complexity limit misses both shapes: an alias is
// a whole new field (2,450 `job { prompt }` aliases cost under the limit
// and fetch 2,450 jobs), and introspection fields cost nothing while
// `types { fields { type { fields … } } }` fans out multiplicatively (a
// 68 KB query, a 16.6 MB answer). Every field counts here: aliases,
// __typename and introspection, with fragments expanded where spread.
type fieldLimit struct {
	maxFields             int
	maxIntrospectionLists int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = fieldLimit{}

func (fieldLimit) ExtensionName() string                   { return "FieldLimit" }
func (fieldLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (f fieldLimit) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	refuse := func(format string, args ...any) *gqlerror.Error {
		err := gqlerror.Errorf(format, args...)
		err.Extensions = map[string]any{"code": codeComplexityLimit}
		return err
	}
	budget := f.maxFields
	if !countFields(op.Operation.SelectionSet, &budget) {
		return refuse("operation selects more than %d fields (aliases, fragments and introspection included)", f.maxFields)
	}
	if n := introspectionLists(op.Operation.SelectionSet, false); n > f.maxIntrospectionLists {
		return refuse("introspection nests %d lists (types, fields, args …) in one path, the limit is %d", n, f.maxIntrospectionLists)
	}
	return nil
}

// countFields takes one from *budget per field selected in set, fragments
// expanded, and reports false as soon as the budget is spent: it stops
// there, so fragments that spread each other many times over cost no more
// work than the limit.
func countFields(set ast.SelectionSet, budget *int) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if *budget--; *budget < 0 {
				return false
			}
			if !countFields(s.SelectionSet, budget) {
				return false
			}
		case *ast.InlineFragment:
			if !countFields(s.SelectionSet, budget) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !countFields(s.Definition.SelectionSet, budget) {
				return false
			}
		}
	}
	return true
}

// introspectionListFields are the list fields of the introspection types:
// each one nested in another multiplies the answer.
var introspectionListFields = map[string]bool{
	"types": true, "fields": true, "inputFields": true, "interfaces": true,
	"possibleTypes": true, "enumValues": true, "args": true, "directives": true,
}

// introspectionLists returns the most introspection list fields nested
// along one path of set (IDEs' introspection query nests three:
// types → fields → args). Called after countFields, so its walk is bounded.
func introspectionLists(set ast.SelectionSet, inIntrospection bool) int {
	most := 0
	for _, sel := range set {
		n := 0
		switch s := sel.(type) {
		case *ast.Field:
			in := inIntrospection || s.Name == "__schema" || s.Name == "__type"
			if in && introspectionListFields[s.Name] {
				n = 1
			}
			n += introspectionLists(s.SelectionSet, in)
		case *ast.InlineFragment:
			n = introspectionLists(s.SelectionSet, inIntrospection)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				n = introspectionLists(s.Definition.SelectionSet, inIntrospection)
			}
		}
		most = max(most, n)
	}
	return most
}
