package webhook

import (
	"net/http"
	"net/url"
	"testing"
)

// TestParseGHCRHeaders checks how the X-GitHub-Event and Content-Type
// headers steer the parse of one and the same package delivery.
func TestParseGHCRHeaders(t *testing.T) {
	const body = `{"action": "published", "package": {"name": "web", "namespace": "acme", "package_type": "CONTAINER",
		"package_version": {"version": "sha256:0529108cfaa87eb98cb7e163629f83d62685d614faca16e18f6b8ae95914a63d",
		"container_metadata": {"tag": {"name": "1.4.2", "digest": ""}}}}}`
	form := "payload=" + url.QueryEscape(body)
	tests := []struct {
		name, event, contentType, body string
		wantEvents                     int
		wantIgnored                    string
		wantErr                        bool
	}{
		{"package", "package", "application/json", body, 1, "", false},
		{"event names are case-insensitive", "Package", "", body, 1, "", false},
		{"registry_package reads package too", "registry_package", "", body, 1, "", false},
		{"no event header", "", "", body, 1, "", false},
		{"ping", "ping", "application/json", `{"zen": "Keep it logically awesome.", "hook_id": 1}`, 0, "ping", false},
		{"ping without header", "", "", `{"zen": "Keep it logically awesome.", "hook_id": 1}`, 0, "ping", false},
		{"other event", "push", "", body, 0, "not a package event", false},
		{"form encoded", "package", "application/x-www-form-urlencoded", form, 1, "", false},
		{"form with charset", "package", "application/x-www-form-urlencoded; charset=utf-8", form, 1, "", false},
		{"form without payload", "package", "application/x-www-form-urlencoded", "other=1", 0, "", true},
		{"form with a bad escape", "package", "application/x-www-form-urlencoded", "payload=%zz", 0, "", true},
		{"empty body", "package", "", "", 0, "empty body", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.event != "" {
				h.Set("X-GitHub-Event", tt.event)
			}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			events, ignored, err := parseGHCR(h, []byte(tt.body))
			checkParseContract(t, events, ignored, err)
			if (err != nil) != tt.wantErr || len(events) != tt.wantEvents || ignored != tt.wantIgnored {
				t.Fatalf("got %d events, ignored %q, error %v; want %d, %q, error %v",
					len(events), ignored, err, tt.wantEvents, tt.wantIgnored, tt.wantErr)
			}
			if len(events) == 1 {
				e := events[0]
				if e.Repository != "ghcr.io/acme/web" || e.Tag != "1.4.2" ||
					e.Digest != "sha256:0529108cfaa87eb98cb7e163629f83d62685d614faca16e18f6b8ae95914a63d" {
					t.Errorf("event %+v", e)
				}
			}
		})
	}
}
