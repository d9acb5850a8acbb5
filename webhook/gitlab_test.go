package webhook

import (
	"net/http"
	"testing"
)

// TestParseGitLabKinds checks which hook and object kinds GitLab's parser
// takes as pushes.
func TestParseGitLabKinds(t *testing.T) {
	const push = `"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567", "project": {"path_with_namespace": "acme/platform/shop"}`
	tests := []struct {
		name        string
		event       string
		body        string
		wantIgnored string
		wantEvents  int
	}{
		{name: "push hook", event: "Push Hook", body: `{"object_kind": "push", ` + push + `}`, wantEvents: 1},
		{name: "system hook, object_kind", event: "System Hook", body: `{"object_kind": "push", ` + push + `}`, wantEvents: 1},
		{name: "system hook, event_name only", event: "System Hook", body: `{"event_name": "tag_push", ` + push + `}`, wantEvents: 1},
		{name: "system hook, no kind", event: "System Hook", body: `{` + push + `}`, wantIgnored: "not a push event: System Hook without object_kind"},
		{name: "system hook, project created", event: "System Hook", body: `{"event_name": "project_create"}`, wantIgnored: "not a push event: System Hook project_create"},
		{name: "pipeline hook", event: "Pipeline Hook", body: `{"object_kind": "pipeline"}`, wantIgnored: "not a push event: Pipeline Hook"},
		{name: "header in lower case", event: "push hook", body: `{` + push + `}`, wantIgnored: "not a push event: push hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Gitlab-Event": {tt.event}}
			events, ignored, err := parseGitLab(h, []byte(tt.body))
			checkParseContract(t, events, ignored, err)
			if err != nil {
				t.Fatal(err)
			}
			if ignored != tt.wantIgnored || len(events) != tt.wantEvents {
				t.Errorf("got %d events, ignored %q; want %d, %q", len(events), ignored, tt.wantEvents, tt.wantIgnored)
			}
			for _, e := range events {
				checkGitEvent(t, e, "gitlab")
			}
		})
	}
}
