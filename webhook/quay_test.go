package webhook

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestQuayTags checks both forms of updated_tags, in the order of the body.
func TestQuayTags(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []string
		wantErr bool
	}{
		{"array", `["1.4", "latest"]`, []string{"1.4", "latest"}, false},
		{"legacy object keeps body order", `{"v2": "ab12", "latest": "ab12", "stable": "cd34"}`, []string{"v2", "latest", "stable"}, false},
		{"legacy object with other values", `{"a": null, "b": 3, "c": {"x": [1]}}`, []string{"a", "b", "c"}, false},
		{"empty array", `[]`, []string{}, false},
		{"empty object", `{}`, []string{}, false},
		{"absent", ``, nil, false},
		{"null", `null`, nil, false},
		{"string", `"latest"`, nil, true},
		{"array of numbers", `[1, 2]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := quayTags(json.RawMessage(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
