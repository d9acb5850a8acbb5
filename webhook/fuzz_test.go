package webhook

import (
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
)

// addTestdataSeeds adds every testdata/<provider>/*.json payload to the
// fuzzer's seed corpus, so the fuzzers start from real deliveries. Crashers
// that a fuzzer finds land in testdata/fuzz/<FuzzName>/ and stay there.
func addTestdataSeeds(f *testing.F, provider string, add func(body []byte)) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", provider, "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no seeds in testdata/%s", provider)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// checkImageEvent checks what every image event promises, whatever the body
// it came from: repository:tag[@digest] parses back, with
// distribution/reference's anchored grammar, to exactly the event's fields.
func checkImageEvent(t *testing.T, e forge.Event, provider string) {
	t.Helper()
	if e.Kind != forge.KindImage || e.Provider != provider {
		t.Errorf("event %+v: kind %q provider %q", e, e.Kind, e.Provider)
	}
	ref := e.Image()
	if e.Digest != "" {
		ref += "@" + e.Digest
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		t.Fatalf("event %+v: reference %q does not parse: %v", e, ref, err)
	}
	if named.Name() != e.Repository {
		t.Errorf("event repository %q is not normalized (%q)", e.Repository, named.Name())
	}
	if tagged, ok := named.(reference.Tagged); !ok || tagged.Tag() != e.Tag {
		t.Errorf("event %+v: tag does not parse back from %q", e, ref)
	}
	if e.Digest != "" && !strings.HasPrefix(e.Digest, "sha256:") {
		t.Errorf("event %+v: digest is not sha256", e)
	}
}

func FuzzParseDistribution(f *testing.F) {
	addTestdataSeeds(f, "distribution", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.index.v1+json", "repository": "a", "tag": "b", "url": "http://[::1]:5000/v2/a"}}]}`))
	f.Add([]byte(`{"events": [{"action": "push", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "../x", "tag": "t"}, "request": {"host": "h@x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, ignored, err := parseDistribution(http.Header{}, body)
		checkParseContract(t, events, ignored, err)
		for _, e := range events {
			checkImageEvent(t, e, "distribution")
		}
	})
}

func FuzzParseGeneric(f *testing.F) {
	addTestdataSeeds(f, "generic", func(b []byte) { f.Add(b, "") })
	f.Add([]byte(`{"image": "127.0.0.1:5000/shop/web", "tag": "v2"}`), "ci-run-42")
	f.Add([]byte(`{"image": "shop/web:v2@sha256:b397d3253dc90a42b5e390ad4886a9c846fc876e3bccff1f0af085da47f33c43", "tag": "v2"}`), "")
	f.Fuzz(func(t *testing.T, body []byte, delivery string) {
		h := http.Header{}
		if delivery != "" {
			h.Set("X-Forge-Delivery", delivery)
		}
		events, ignored, err := parseGeneric(h, body)
		checkParseContract(t, events, ignored, err)
		if err != nil {
			return
		}
		if len(events) != 1 {
			t.Fatalf("got %d events, want 1", len(events))
		}
		checkImageEvent(t, events[0], "generic")
		if want := cleanDelivery(h.Get("X-Forge-Delivery")); want != "" && events[0].Delivery != want {
			t.Errorf("delivery = %q, want the header's %q", events[0].Delivery, want)
		}
		if events[0].Delivery == "" {
			t.Error("event without delivery")
		}
	})
}

func FuzzCheckHMAC(f *testing.F) {
	f.Add("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", []byte("Hello, World!"), "It's a Secret to Everybody")
	f.Add("sha1=757107ea0eb2509fc211221cce984b8a37570b6d", []byte("Hello, World!"), "It's a Secret to Everybody")
	f.Add("sha256=zz", []byte{}, "")
	f.Add(" sha256=", []byte("x"), "x")
	addTestdataSeeds(f, "generic", func(b []byte) { f.Add(signature(b, testSecret), b, testSecret) })
	f.Fuzz(func(t *testing.T, sig string, body []byte, secret string) {
		want := hex.EncodeToString(Sign(body, secret))
		err := checkHMAC(sig, "sha256=", body, secret)
		switch {
		case err == nil:
			rest, ok := strings.CutPrefix(strings.TrimSpace(sig), "sha256=")
			if !ok || !strings.EqualFold(rest, want) {
				t.Fatalf("accepted %q for a body whose signature is sha256=%s", sig, want)
			}
		case !errors.Is(err, errBadSig) && !errors.Is(err, errBadSigForm):
			t.Fatalf("unexpected error %v", err)
		}
		if err := checkHMAC("sha256="+want, "sha256=", body, secret); err != nil {
			t.Fatalf("the body's own signature was rejected: %v", err)
		}
	})
}
