package graph_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/vidgate/vidgate/graph/model"
	"github.com/vidgate/vidgate/jobs"
)

// loadSchema parses every *.graphqls of this package, as gqlgen does.
func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	files, err := filepath.Glob("*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	s, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatalf("LoadSchema: %v", gerr)
	}
	return s
}

// enumValues returns the values of the schema's enum name, in order.
func enumValues(t *testing.T, s *ast.Schema, name string) ast.EnumValueList {
	t.Helper()
	def := s.Types[name]
	if def == nil || def.Kind != ast.Enum {
		t.Fatalf("schema has no enum %s", name)
	}
	return def.EnumValues
}

// upper maps domain values ("api") to the schema's spelling ("API").
func upper[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToUpper(string(v))
	}
	return out
}

func names(vs ast.EnumValueList) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// TestSchemaEnumsMatchDomain: every GraphQL enum that mirrors a domain type
// holds exactly the domain's values, so a status, source or reason added in
// jobs cannot be missing from the API (or the other way round).
func TestSchemaEnumsMatchDomain(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	tests := []struct {
		enum string
		want []string
	}{
		{"JobStatus", upper(jobs.Statuses)},
		{"RejectionReason", upper(jobs.Reasons)},
		{"EventSource", upper([]jobs.Source{jobs.SourceAPI, jobs.SourceWorker, jobs.SourceWebhook, jobs.SourceReconciler, jobs.SourceReviewer})},
		{"ReviewDecision", upper([]jobs.Decision{jobs.DecisionApproved, jobs.DecisionRejected})},
		{"Role", upper([]jobs.Role{jobs.RoleUser, jobs.RoleReviewer, jobs.RoleAdmin})},
	}
	for _, tt := range tests {
		got := names(enumValues(t, s, tt.enum))
		if !slices.Equal(got, tt.want) {
			t.Errorf("enum %s = %v, want the domain's %v", tt.enum, got, tt.want)
		}
	}
	// The generated Go enum follows the schema; check it too, in case
	// generated code is stale.
	var gen []string
	for _, v := range model.AllJobStatus {
		gen = append(gen, string(v))
	}
	if !slices.Equal(gen, upper(jobs.Statuses)) {
		t.Errorf("model.AllJobStatus = %v, want %v (run go generate ./...)", gen, upper(jobs.Statuses))
	}
}

// TestSchemaStatusCopy: each JobStatus value's description ends with the
// copy jobs.Status.Copy returns, the one place that copy is written.
func TestSchemaStatusCopy(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	for _, v := range enumValues(t, s, "JobStatus") {
		want := "Copy: " + jobs.Status(v.Name).Copy() + "."
		if !strings.HasSuffix(strings.TrimSpace(v.Description), want) {
			t.Errorf("JobStatus.%s description %q, want it to end with %q", v.Name, v.Description, want)
		}
	}
}

// TestDocsStatusCopy: the API guide's status table (docs/api.md, "Job
// status") shows each status with the copy jobs.Status.Copy returns.
func TestDocsStatusCopy(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // status → the copy column
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, st := range strings.Split(cells[1], ",") {
			st = strings.Trim(strings.TrimSpace(st), "`")
			if jobs.Status(st).Valid() {
				rows[st] = strings.TrimSpace(cells[2])
			}
		}
	}
	for _, st := range jobs.Statuses {
		got, ok := rows[string(st)]
		if !ok {
			t.Errorf("docs/api.md has no status row for %s", st)
			continue
		}
		if !strings.HasPrefix(got, st.Copy()) {
			t.Errorf("docs/api.md shows %s as %q, want %q", st, got, st.Copy())
		}
	}
}
