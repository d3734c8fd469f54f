package providers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestCodesListsEveryCode: Codes is derived by hand from the constants;
// this keeps the two from drifting apart.
func TestCodesListsEveryCode(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); ok && id.Name == "Code" {
				for _, n := range v.Names {
					declared = append(declared, n.Name)
				}
			}
		}
	}
	if len(declared) != len(Codes) {
		t.Errorf("errors.go declares %d codes %v; Codes lists %d", len(declared), declared, len(Codes))
	}
	for _, c := range Codes {
		if slices.Contains(Codes[:slices.Index(Codes, c)], c) {
			t.Errorf("Codes lists %s twice", c)
		}
	}
}
