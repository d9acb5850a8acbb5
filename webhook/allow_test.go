package webhook

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAllowFromRefusesBeforeTheBody: a source outside a provider's
// allow_from is answered 403 while its body has not even been sent; one
// inside is taken; a provider without allow_from takes any source.
func TestAllowFromRefusesBeforeTheBody(t *testing.T) {
	disp := &fakeDispatcher{}
	base := startServer(t, Config{
		Secret: testSecret, Dispatcher: disp,
		AllowFrom: map[string][]netip.Prefix{"distribution": {netip.MustParsePrefix("127.0.0.2/32")}},
	})
	addr := strings.TrimPrefix(base, "http://")

	// Headers only, announcing 8 MiB that never come.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Write([]byte("POST /hooks/distribution HTTP/1.1\r\nHost: forge\r\nAuthorization: Bearer " + testSecret +
		"\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d from outside allow_from, want 403", resp.StatusCode)
	}

	body, err := os.ReadFile("testdata/distribution/registry-2.8-push-tag-with-blobs-and-pull.json")
	if err != nil {
		t.Fatal(err)
	}
	from := func(local string) int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext}}
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks/distribution", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+testSecret)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("from %s: %v", local, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := from("127.0.0.1"); got != http.StatusForbidden {
		t.Errorf("from 127.0.0.1, outside allow_from: %d, want 403", got)
	}
	if len(disp.submitted()) != 0 {
		t.Fatalf("a refused source reached the dispatcher: %v", disp.submitted())
	}
	if got := from("127.0.0.2"); got != http.StatusAccepted && got != http.StatusOK {
		t.Errorf("from 127.0.0.2, inside allow_from: %d, want it taken", got)
	}
	if len(disp.submitted()) != 1 {
		t.Errorf("the allowed push reached the dispatcher %d times, want once", len(disp.submitted()))
	}

	// A provider without allow_from takes any source.
	harbor, err := os.ReadFile("testdata/harbor/cloudevents-push-json-content-type.json")
	if err != nil {
		t.Fatal(err)
	}
	r := send(t, http.MethodPost, base+"/hooks/harbor", harbor, map[string]string{"Authorization": "Bearer " + testSecret, "Content-Type": "application/json"})
	if r.status != http.StatusAccepted && r.status != http.StatusOK {
		t.Errorf("harbor, with no allow_from, from 127.0.0.1: %d %s, want it taken", r.status, r.body)
	}
}

func TestAllowFromForAnUnknownProvider(t *testing.T) {
	_, err := New(Config{Secret: testSecret, Dispatcher: &fakeDispatcher{}, AllowFrom: map[string][]netip.Prefix{"gitbucket": nil}})
	if err == nil || !strings.Contains(err.Error(), "gitbucket") {
		t.Errorf("New with allow_from for an unknown provider: %v, want an error naming it", err)
	}
}
