package webhook

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge"
)

// queueOnly is a dispatcher that accepts every event at once, so the
// benchmark measures the listener itself.
type queueOnly struct{}

func (queueOnly) Submit(_ context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	return []forge.QueuedDeploy{{ID: 1, Project: "shop", Services: []string{"web"}, Status: forge.StatusQueued}}, "", nil
}

// BenchmarkIngest compares a signed generic push through the listener (limit,
// HMAC check, parse, normalize, answer) with a bare net/http handler that
// only reads the body and answers 202, over the same loopback connection
// pool. The ratio is reported as forge/bare.
func BenchmarkIngest(b *testing.B) {
	const secret = "bench-secret"
	body := []byte(`{"image":"registry.example.com:5000/shop/web","tag":"1.4.2","digest":"sha256:` + strings.Repeat("ab", 32) + `"}`)
	sig := "sha256=" + hex.EncodeToString(Sign(body, secret))

	s, err := New(Config{Secret: secret, Dispatcher: queueOnly{}})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	s.Register(r)
	forgeSrv := httptest.NewServer(r)
	defer forgeSrv.Close()
	bareSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer bareSrv.Close()

	post := func(b *testing.B, url string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
		req.Header.Set("X-Forge-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	var forgeNs, bareNs float64
	b.Run("forge", func(b *testing.B) {
		for b.Loop() {
			post(b, forgeSrv.URL+"/hooks/generic")
		}
		forgeNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			post(b, bareSrv.URL+"/")
		}
		bareNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	if bareNs > 0 {
		b.ReportMetric(forgeNs/bareNs, "forge/bare")
	}
}
