package webhook

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// checkRegistryParse checks what a registry parser promises for any body:
// the parse contract, events that parse back to themselves with a valid tag
// and an empty or valid sha256 digest, a delivery id safe to log, and a short
// ignored reason.
func checkRegistryParse(t *testing.T, provider string, events []forge.Event, ignored string, err error) {
	t.Helper()
	checkParseContract(t, events, ignored, err)
	if len(ignored) > 64 {
		t.Errorf("ignored reason %q is too long for a log line", ignored)
	}
	for _, e := range events {
		checkImageEvent(t, e, provider)
		if err := checkTag(e.Tag); err != nil {
			t.Errorf("event %+v: %v", e, err)
		}
		if err := checkDigest(e.Digest); err != nil {
			t.Errorf("event %+v: %v", e, err)
		}
		if e.Delivery != cleanDelivery(e.Delivery) {
			t.Errorf("event %+v: delivery %q is not clean", e, e.Delivery)
		}
	}
}

func FuzzParseDockerHub(f *testing.F) {
	addTestdataSeeds(f, "dockerhub", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"push_data": {"tag": "v1"}, "repository": {"repo_name": "localhost:5000/x"}}`))
	f.Add([]byte(`{"push_data": {"tag": "v1"}, "repository": {"namespace": "a", "name": "b"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, ignored, err := parseDockerHub(http.Header{}, body)
		checkRegistryParse(t, "dockerhub", events, ignored, err)
		if len(events) > 1 {
			t.Errorf("got %d events from one Docker Hub push", len(events))
		}
		for _, e := range events {
			if e.Digest != "" {
				t.Errorf("event %+v: Docker Hub sends no digest", e)
			}
		}
	})
}

func FuzzParseGHCR(f *testing.F) {
	addTestdataSeeds(f, "ghcr", func(b []byte) {
		f.Add(b, "package", "application/json")
		f.Add(b, "", "")
	})
	f.Add([]byte("payload="+url.QueryEscape(`{"action":"published","package":{"name":"W","namespace":"A","package_type":"container","package_version":{"version":"x","container_metadata":{"tag":{"name":"t"}}}}}`)),
		"registry_package", "application/x-www-form-urlencoded")
	f.Add([]byte(`{"zen": "z", "hook_id": 1}`), "", "")
	f.Fuzz(func(t *testing.T, body []byte, event, contentType string) {
		h := http.Header{}
		h.Set("X-GitHub-Event", event)
		h.Set("Content-Type", contentType)
		events, ignored, err := parseGHCR(h, body)
		checkRegistryParse(t, "ghcr", events, ignored, err)
		if len(events) > 1 {
			t.Errorf("got %d events from one package version", len(events))
		}
	})
}

func FuzzParseHarbor(f *testing.F) {
	addTestdataSeeds(f, "harbor", func(b []byte) {
		f.Add(b, "application/json")
		f.Add(b, "application/cloudevents+json")
	})
	f.Add([]byte(`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"a","resource_url":"[::1]:5000/p/r:a"}],"repository":{"repo_full_name":"p/r"}}}`), "")
	f.Add([]byte(`{"type":"harbor.artifact.pushed","data":{"resources":[{"tag":"a","resource_url":"https://h.io/p/r:a"}],"repository":{"repo_full_name":"p/r:x"}}}`), "application/cloudevents+json; charset=utf-8")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		events, ignored, err := parseHarbor(h, body)
		checkRegistryParse(t, "harbor", events, ignored, err)
	})
}

func FuzzParseQuay(f *testing.F) {
	addTestdataSeeds(f, "quay", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"docker_url": "https://q.example.com:8443/a/b", "updated_tags": {"x": 1, "x": null}}`))
	f.Add([]byte(`{"repository": "a/b", "updated_tags": [null, "", "ok"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, ignored, err := parseQuay(http.Header{}, body)
		checkRegistryParse(t, "quay", events, ignored, err)
		seen := map[string]bool{}
		for _, e := range events {
			if e.Digest != "" {
				t.Errorf("event %+v: Quay sends no digest", e)
			}
			if seen[e.Tag] {
				t.Errorf("tag %q came out twice", e.Tag)
			}
			seen[e.Tag] = true
		}
	})
}

func FuzzParseACR(f *testing.F) {
	addTestdataSeeds(f, "acr", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"action":"push","target":{"repository":"r","tag":"t","digest":"sha256:xxxx"},"request":{"host":"h.azurecr.io/evil"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, ignored, err := parseACR(http.Header{}, body)
		checkRegistryParse(t, "acr", events, ignored, err)
		if len(events) > 1 {
			t.Errorf("got %d events from one ACR event", len(events))
		}
	})
}
