package keyspace_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// sources parses every non-test .go file of the module outside this
// package (and outside testdata and hidden directories), and calls fn with
// each file's path relative to the module root.
func sources(t *testing.T, fn func(rel string, fset *token.FileSet, f *ast.File)) {
	t.Helper()
	root := moduleRoot(t)
	self := filepath.Join("jobs", "keyspace")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == self || d.Name() == "testdata" || d.Name() == "vendor" || (strings.HasPrefix(d.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(rel, fset, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keyShaped matches string literals that only a Redis key or channel of
// vidgate would hold: a piece of the layout in the package doc.
var keyShaped = []*regexp.Regexp{
	regexp.MustCompile(`\{q\}`),
	regexp.MustCompile(`(^|:)(stream|dead|retry):$`),
	regexp.MustCompile(`(^|:)ratelimit:`),
	regexp.MustCompile(`(^|:)breaker:`),
	regexp.MustCompile(`:reconciler:|^reconciler:(lease|generation)`),
	regexp.MustCompile(`^(job|owner):$`),
}

// No package but this one assembles a Redis key or channel name: a string
// literal shaped like a piece of one, anywhere else in the module's
// non-test code, fails the test. (Tests may spell keys out: they check the
// layout from outside.)
func TestNoKeyBuiltOutside(t *testing.T) {
	t.Parallel()
	sources(t, func(rel string, fset *token.FileSet, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, re := range keyShaped {
				if re.MatchString(s) {
					t.Errorf("%s:%d: string %s looks like a piece of a Redis key (%s); build keys with jobs/keyspace",
						rel, fset.Position(lit.Pos()).Line, lit.Value, re)
				}
			}
			return true
		})
	})
}

// Every Lua script of the module (a variable set to redis.NewScript) is in
// the table TestScriptKeysShareASlot checks, and is documented in doc.go.
func TestEveryScriptIsListed(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	sources(t, func(rel string, fset *token.FileSet, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, v := range spec.Values {
				call, ok := v.(*ast.CallExpr)
				if !ok {
					continue
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "NewScript" {
					continue
				}
				name := spec.Names[i].Name
				found = append(found, f.Name.Name+"."+name)
				if !regexp.MustCompile(`(?m)^//\s+` + name + `\s`).Match(doc) {
					t.Errorf("%s: script %s is not documented in jobs/keyspace/doc.go", rel, name)
				}
			}
			return true
		})
	})
	var listed []string
	for name := range scripts {
		listed = append(listed, name)
	}
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Errorf("scripts in the module = %v, scripts listed in slot_test.go = %v; want the same", found, listed)
	}
}
