package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/certs/certstest"
)

// servedSerial is the serial of the certificate a new TLS connection to
// addr is shown, verified against roots for name.
func servedSerial(t *testing.T, addr, name string, cfg *tls.Config) string {
	t.Helper()
	c := cfg.Clone()
	c.ServerName = name
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Fatalf("TLS to %s as %s: %v", addr, name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

// TestExposeWithCertificateFiles follows the README's "Exposing
// docker-forge", way 2, end to end: serve with certificate files and an
// allow_from; the registry's notification reaches it over HTTPS and
// deploys; the API and /metrics (behind its token) answer over TLS; plain
// HTTP and TLS 1.1 are refused; a source outside allow_from gets 403
// before its body is sent; a client sending its headers a byte a second
// is cut off while other requests are answered; replacing the files
// switches the served certificate without a restart.
func TestExposeWithCertificateFiles(t *testing.T) {
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	secret := randomName("e2e-webhook-secret-")
	e := newEnv(t, regAddr)
	dir := t.TempDir()
	ca := certstest.NewCA(t, "forge e2e CA")
	caPath := ca.WriteCA(t, dir)
	certPath, keyPath := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	first := ca.Issue(t, "127.0.0.1", "localhost")
	first.Write(t, certPath, keyPath)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte("webhook:\n  allow_from: [127.0.0.1/32]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiToken, metricsToken := randomName("e2e-api-token-"), randomName("e2e-metrics-token-")
	e.extraEnv = append(e.extraEnv, "FORGE_API_TOKEN="+apiToken, "FORGE_METRICS_TOKEN="+metricsToken)
	roots := &tls.Config{RootCAs: ca.Pool()}
	e.https = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: roots}}
	d := e.startDaemon(secret, "--tls-cert", certPath, "--tls-key", keyPath, "--config", cfgPath, "--header-timeout", "2s")
	base := "https://" + d.addr
	startRegistryEnv(t, regAddr, base+"/hooks/distribution", secret, []string{"SSL_CERT_FILE=" + caPath})

	project := randomName("forge-e2e-tls-")
	repo := regAddr + "/" + project + "/app"
	ref := repo + ":live"
	e.cleanupProject(project)
	e.importImage(ref, "v1")
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf("services:\n  web:\n    image: %s\n    init: true\n    labels:\n      forge.enable: \"true\"\n", ref))
	var firstDeploy forge.Deploy
	e.forgeJSON(&firstDeploy, "deploy", "-f", compose, "-p", project)
	if firstDeploy.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v", firstDeploy)
	}

	// The registry's notification, over HTTPS from inside allow_from.
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	pushed := e.waitFor(project, func(h []forge.Deploy) bool {
		s, _ := h[0].Service("web")
		return h[0].Reason == forge.ReasonPush && s.Digest == d2
	})[0]
	if pushed.Status != forge.StatusSucceeded || d1 == d2 {
		t.Fatalf("push deploy over HTTPS = %+v, want succeeded on %s", pushed, d2)
	}
	if c := e.container(project, "web"); c.Version != "v2" {
		t.Fatalf("web after the push over HTTPS = %+v, want v2", c)
	}

	get := func(path string, header map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := e.https.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	t.Run("API and metrics over TLS", func(t *testing.T) {
		resp, body := get("/api/projects/"+project, map[string]string{"Authorization": "Bearer " + apiToken})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, project) {
			t.Errorf("GET /api/projects/%s over TLS = %d %s", project, resp.StatusCode, body)
		}
		if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("Strict-Transport-Security = %q over HTTPS", hsts)
		}
		if resp, _ := get("/metrics", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/metrics without the token = %d, want 401", resp.StatusCode)
		}
		if resp, body := get("/metrics", map[string]string{"Authorization": "Bearer " + metricsToken}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "forge_deploys_total") {
			t.Errorf("/metrics with the token = %d, want 200 with forge_deploys_total", resp.StatusCode)
		}
		if resp, _ := get("/", nil); resp.Header.Get("Content-Security-Policy") == "" {
			t.Error("the dashboard answers without a Content-Security-Policy")
		}
	})

	t.Run("plain HTTP and TLS 1.1 refused", func(t *testing.T) {
		// Go's TLS server answers a plain request 400, and nothing else.
		resp, err := http.Get("http://" + d.addr + "/api/projects")
		if err != nil {
			t.Fatalf("plain HTTP to the TLS port: %v, want a 400 answer", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), project) {
			t.Errorf("plain HTTP to the TLS port = %d %q, want 400 and nothing else", resp.StatusCode, b)
		}
		old := roots.Clone()
		old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
		if conn, err := tls.Dial("tcp", d.addr, old); err == nil {
			conn.Close()
			t.Error("a TLS 1.1 handshake succeeded")
		}
		// HTTP/1.1 only, so the header and read timeouts bound every
		// connection (HTTP/2 streams escape them).
		h2 := roots.Clone()
		h2.ServerName, h2.NextProtos = "127.0.0.1", []string{"h2", "http/1.1"}
		conn, err := tls.Dial("tcp", d.addr, h2)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Errorf("a client offering h2 negotiated %q, want http/1.1", p)
		}
	})

	t.Run("outside allow_from", func(t *testing.T) {
		conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}).Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		named := roots.Clone()
		named.ServerName = "127.0.0.1"
		tc := tls.Client(conn, named)
		defer tc.Close()
		// Headers announcing a body that is never sent.
		fmt.Fprintf(tc, "POST /hooks/distribution HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 900000\r\n\r\n", d.addr, secret)
		_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatalf("no answer before the body was sent: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a webhook from 127.0.0.3 = %d, want 403", resp.StatusCode)
		}
	})

	t.Run("slow client cut off, others answered", func(t *testing.T) {
		tc, err := tls.Dial("tcp", d.addr, roots)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		start := time.Now()
		go func() {
			for _, b := range []byte("POST /hooks/distribution HTTP/1.1\r\nHost: x\r\n") {
				if _, err := tc.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = io.Copy(io.Discard, tc) // returns when the daemon closes the connection
			closed <- time.Since(start)
		}()
		for i := 0; i < 3; i++ {
			t0 := time.Now()
			if resp, _ := get("/healthz", nil); resp.StatusCode != http.StatusOK || time.Since(t0) > 2*time.Second {
				t.Errorf("healthz while a slow client holds a connection: %d after %s", resp.StatusCode, time.Since(t0))
			}
			time.Sleep(300 * time.Millisecond)
		}
		select {
		case after := <-closed:
			t.Logf("slow client cut off after %s (--header-timeout 2s)", after.Round(time.Millisecond))
		case <-time.After(6 * time.Second):
			t.Error("a client sending its headers a byte a second still holds its connection after 7 s (--header-timeout 2s)")
		}
	})

	t.Run("new certificate files served without a restart", func(t *testing.T) {
		// A kept-alive connection from before the rotation.
		if resp, _ := get("/healthz", nil); resp.StatusCode != http.StatusOK {
			t.Fatal(resp.Status)
		}
		if got := servedSerial(t, d.addr, "127.0.0.1", roots); got != first.Cert.SerialNumber.Text(16) {
			t.Fatalf("served serial %s before the rotation, want %s", got, first.Cert.SerialNumber.Text(16))
		}
		second := ca.Issue(t, "127.0.0.1", "localhost")
		second.Write(t, certPath, keyPath)
		later := time.Now().Add(2 * time.Second)
		_ = os.Chtimes(certPath, later, later)
		want := second.Cert.SerialNumber.Text(16)
		deadline := time.Now().Add(5 * time.Second)
		for servedSerial(t, d.addr, "127.0.0.1", roots) != want {
			if time.Now().After(deadline) {
				t.Fatal("the replaced certificate files are not served 5 s later")
			}
			time.Sleep(200 * time.Millisecond)
		}
		reused := false
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := e.https.Do(req)
		if err != nil {
			t.Fatalf("the connection from before the rotation: %v", err)
		}
		resp.Body.Close()
		if !reused {
			t.Error("the connection opened before the rotation was dropped")
		}
		var info struct {
			Source, Serial string
		}
		e.forgeJSON(&info, "cert")
		if info.Source != "files" || info.Serial != want {
			t.Errorf("docker forge cert = %+v, want the new certificate from files", info)
		}
	})
	t.Run("dashboard over HTTPS", func(t *testing.T) {
		// The test CA is not the system's: Chromium is told to accept it.
		b := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
		for _, role := range []string{"viewer", "admin"} {
			var tok struct {
				Token string `json:"token"`
			}
			e.forgeJSON(&tok, "token", "create", "--name", "https-"+role, "--role", role)
			p := b.person()
			b.signIn(p, base, tok.Token, "https-"+role+"-projects-en")
			cookies, err := chromedp.Call(p, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
			if err != nil {
				t.Fatal(err)
			}
			session := false
			for _, c := range cookies.Cookies {
				if c.Name == "forge_session" {
					session = true
					if !c.Secure || !c.HTTPOnly {
						t.Errorf("%s's session cookie over HTTPS: Secure %v, HttpOnly %v; want both", role, c.Secure, c.HTTPOnly)
					}
				}
			}
			if !session {
				t.Errorf("%s signed in over HTTPS with no session cookie", role)
			}
			b.do(p, role+" opens the project", chromedp.Navigate(base+"/projects/"+project), chromedp.WaitVisible(chromedp.CSS("#history table")))
			b.shot(p, "https-"+role+"-project-en")
			if n := b.count(p, "[data-rollback]"); (n == 0) != (role == "viewer") {
				t.Errorf("%s sees %d rollback buttons over HTTPS", role, n)
			}
			b.do(p, role+" switches to Russian", chromedp.Click(chromedp.CSS(`a[hreflang=ru]`)), chromedp.WaitVisible(chromedp.CSS(`html[lang=ru] #history table`)))
			b.shot(p, "https-"+role+"-project-ru")
			b.do(p, role+" opens the projects in Russian", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`html[lang=ru] table.projects`)))
			b.shot(p, "https-"+role+"-projects-ru")
			if got := b.text(p, "table.projects"); !strings.Contains(got, project) {
				t.Errorf("%s's projects page over HTTPS lacks %s:\n%s", role, project, got)
			}
		}
	})
	if log := d.Log(); strings.Contains(log, "plain HTTP on an address") || strings.Contains(log, secret) || strings.Contains(log, apiToken) {
		t.Error("the daemon's log warns of plain HTTP, or carries a secret or token")
	}
}

// TestPlainHTTPOnAReachableAddressWarns: serve on 0.0.0.0 without TLS
// says at start what travels in clear.
func TestPlainHTTPOnAReachableAddressWarns(t *testing.T) {
	e := newEnv(t, "")
	d := e.startDaemon(randomName("e2e-webhook-secret-"), "--addr", fmt.Sprintf("0.0.0.0:%d", freePort(t)))
	log := d.Log()
	if !strings.Contains(log, "plain HTTP on an address other machines can reach") || !strings.Contains(log, "distribution") {
		t.Errorf("no warning of plain HTTP on 0.0.0.0 in the daemon's log:\n%s", log)
	}
}
