package server

import "testing"

func TestInitToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payload map[string]any
		want    string
	}{
		{map[string]any{"Authorization": "Bearer abc"}, "abc"},
		{map[string]any{"authorization": "bearer abc"}, "abc"},
		{map[string]any{"token": "abc"}, "abc"},
		{map[string]any{"headers": map[string]any{"Authorization": "Bearer abc"}}, "abc"},
		{map[string]any{"Authorization": 42}, ""},
		{map[string]any{}, ""},
	}
	for _, tt := range tests {
		if got := initToken(tt.payload); got != tt.want {
			t.Errorf("initToken(%v) = %q, want %q", tt.payload, got, tt.want)
		}
	}
}
