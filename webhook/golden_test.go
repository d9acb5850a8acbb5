package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

var update = flag.Bool("update", false, "rewrite the webhook/testdata/*/*.golden files from the parsers' output")

// parsers are the pure parse functions that the golden test walks, by the
// provider (and testdata folder) name: every provider the listener serves.
var parsers = func() map[string]func(http.Header, []byte) ([]forge.Event, string, error) {
	out := map[string]func(http.Header, []byte) ([]forge.Event, string, error){}
	for name, p := range providers() {
		out[name] = p.parse
	}
	return out
}()

// caseHeaders reads the optional <case>.headers file beside a payload: HTTP
// header lines ("X-GitHub-Event: push") sent with it.
func caseHeaders(t *testing.T, payload string) http.Header {
	t.Helper()
	h := http.Header{}
	b, err := os.ReadFile(strings.TrimSuffix(payload, ".json") + ".headers")
	if errors.Is(err, os.ErrNotExist) {
		return h
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h
}

// golden is what a <case>.golden file holds: the normalized events, the
// reason the payload was ignored, and whether it was rejected. The error text
// itself is left out so that rewording a message does not churn the goldens.
type golden struct {
	Events  []forge.Event `json:"events"`
	Ignored string        `json:"ignored"`
	Error   bool          `json:"error"`
}

func (g golden) marshal(t *testing.T) []byte {
	t.Helper()
	if g.Events == nil {
		g.Events = []forge.Event{}
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatalf("marshal golden: %v", err)
	}
	return append(b, '\n')
}

// TestParseGolden feeds every testdata/<provider>/<case>.json to the
// provider's parse function and compares the outcome with <case>.golden.
// Run with -update to rewrite the goldens, then review the diff.
func TestParseGolden(t *testing.T) {
	for provider, parse := range parsers {
		cases, err := filepath.Glob(filepath.Join("testdata", provider, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) < 5 {
			t.Fatalf("testdata/%s holds %d payloads; the golden test needs them", provider, len(cases))
		}
		for _, path := range cases {
			name := provider + "/" + strings.TrimSuffix(filepath.Base(path), ".json")
			t.Run(name, func(t *testing.T) {
				body, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				events, ignored, perr := parse(caseHeaders(t, path), body)
				checkParseContract(t, events, ignored, perr)
				got := golden{Events: events, Ignored: ignored, Error: perr != nil}.marshal(t)

				goldenPath := strings.TrimSuffix(path, ".json") + ".golden"
				if *update {
					if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(goldenPath)
				if err != nil {
					t.Fatalf("read golden (run go test ./webhook -run TestParseGolden -update): %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: parse error %v\ngot:\n%s\nwant:\n%s", goldenPath, perr, got, want)
				}
			})
		}
	}
}

// TestGoldenFilesHavePayloads keeps testdata tidy: a golden without its
// payload is a case that silently stopped running.
func TestGoldenFilesHavePayloads(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if len(goldens) == 0 {
		t.Fatal("no golden files under testdata")
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".json"); err != nil {
			t.Errorf("%s has no payload: %v", g, err)
		}
		if _, ok := parsers[filepath.Base(filepath.Dir(g))]; !ok {
			t.Errorf("%s is in a folder no parser reads", g)
		}
	}
}

// checkParseContract checks what every parse function promises, whatever the
// input: an error comes alone, and a payload without events says why.
func checkParseContract(t *testing.T, events []forge.Event, ignored string, err error) {
	t.Helper()
	switch {
	case err != nil:
		if events != nil || ignored != "" {
			t.Errorf("error %v came with events %v and ignored %q", err, events, ignored)
		}
	case len(events) == 0:
		if ignored == "" {
			t.Error("no events and no ignored reason")
		}
	default:
		if ignored != "" {
			t.Errorf("events came with ignored reason %q", ignored)
		}
	}
}

// TestParseGenericDelivery checks where a generic event's delivery ID comes
// from: the X-Forge-Delivery header, or else a stable hash of the body.
func TestParseGenericDelivery(t *testing.T) {
	body := []byte(`{"image": "registry.example.com/shop/web", "tag": "1.4"}`)
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"header names the delivery", http.Header{"X-Forge-Delivery": {"ci-run-4711"}}, "ci-run-4711"},
		{"no header hashes the body", http.Header{}, "sha256:913fea6c308990eb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, _, err := parseGeneric(tt.header, body)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 {
				t.Fatalf("got %d events, want 1", len(events))
			}
			if events[0].Delivery != tt.want {
				t.Errorf("delivery = %q, want %q", events[0].Delivery, tt.want)
			}
		})
	}
}
