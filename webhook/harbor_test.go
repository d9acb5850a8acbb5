package webhook

import (
	"net/http"
	"testing"
)

// TestParseHarborFormats checks that the payload format is told from the
// Content-Type or the body itself, and that only a CloudEvent's id becomes
// the events' delivery.
func TestParseHarborFormats(t *testing.T) {
	const (
		resources  = `{"resources": [{"digest": "", "tag": "1.4", "resource_url": "harbor.example.com/shop/web:1.4"}], "repository": {"repo_full_name": "shop/web"}}`
		cloudEvent = `{"specversion": "1.0", "id": "ce-1", "type": "harbor.artifact.pushed", "data": ` + resources + `}`
		legacy     = `{"type": "PUSH_ARTIFACT", "occur_at": 1, "event_data": ` + resources + `}`
		noSpec     = `{"id": "ce-2", "type": "harbor.artifact.pushed", "data": ` + resources + `}`
	)
	tests := []struct {
		name, contentType, body, wantDelivery string
	}{
		{"cloudevents", "application/cloudevents+json", cloudEvent, "ce-1"},
		{"cloudevents with charset", "application/cloudevents+json; charset=utf-8", cloudEvent, "ce-1"},
		{"cloudevents told by specversion", "application/json", cloudEvent, "ce-1"},
		{"cloudevents told by content type", "application/cloudevents+json", noSpec, "ce-2"},
		{"default format", "application/json", legacy, ""},
		{"default format under a cloudevents content type", "application/cloudevents+json", legacy, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Content-Type", tt.contentType)
			events, ignored, err := parseHarbor(h, []byte(tt.body))
			if err != nil || len(events) != 1 {
				t.Fatalf("got %v, %q, %v; want one event", events, ignored, err)
			}
			e := events[0]
			if e.Repository != "harbor.example.com/shop/web" || e.Tag != "1.4" || e.Delivery != tt.wantDelivery {
				t.Errorf("event %+v, want delivery %q", e, tt.wantDelivery)
			}
		})
	}
}
