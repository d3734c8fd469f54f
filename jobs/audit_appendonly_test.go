package jobs_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAuditLogIsAppendOnly: nothing in vidgate updates or deletes audit
// rows. Every non-test Go file of the module is read: no query builder
// call that updates, deletes or truncates names audit_log or AuditEntry,
// and no SQL string updates, deletes from, truncates or drops audit_log.
// (AppendAudit's insert is the only write.)
func TestAuditLogIsAppendOnly(t *testing.T) {
	root, err := filepath.Abs("..") // the module: jobs/ is one level down
	if err != nil {
		t.Fatal(err)
	}
	builder := regexp.MustCompile(`\.(NewUpdate|NewDelete|NewTruncateTable|NewDropTable)\(`)
	target := regexp.MustCompile(`audit_log|AuditEntry`)
	rawSQL := regexp.MustCompile(`(?is)\b(update\s+"?audit_log|delete\s+from\s+"?audit_log|truncate\s+(table\s+)?"?audit_log|drop\s+table\s+(if\s+exists\s+)?"?audit_log)\b`)
	fset := token.NewFileSet()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				var b bytes.Buffer
				printer.Fprint(&b, fset, n)
				if src := b.String(); builder.MatchString(src) && target.MatchString(src) {
					t.Errorf("%s:%d: %s writes over the audit log", rel, fset.Position(n.Pos()).Line, firstLine(src))
					return false
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING && rawSQL.MatchString(n.Value) {
					t.Errorf("%s:%d: SQL %s changes audit rows", rel, fset.Position(n.Pos()).Line, firstLine(n.Value))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files under %s, want the whole module", files, root)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
