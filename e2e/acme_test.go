package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/certs/certstest"
)

// pebbleCA is Debian's pebble (a test ACME server) on 127.0.0.1, with
// pebble-challtestsrv as its DNS server: every name resolves to 127.0.0.1.
type pebbleCA struct {
	dir    string // the ACME directory URL
	caPath string // the root pebble's own HTTPS chains to
	// issuer is pebble's issuing root, made at its start: what the
	// certificates it issues chain to.
	issuer *x509.CertPool
}

// startPebble runs pebble validating TLS-ALPN-01 on tlsPort and HTTP-01 on
// httpPort, where the daemon under test listens.
func startPebble(t *testing.T, tlsPort, httpPort int) *pebbleCA {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (scripts/services.sh installs Debian's pebble): %v", bin, err)
		}
	}
	dir := t.TempDir()
	ca := certstest.NewCA(t, "pebble HTTPS test CA")
	p := &pebbleCA{caPath: ca.WriteCA(t, dir)}
	ca.Issue(t, "127.0.0.1", "localhost").Write(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q, "certificate": %q, "privateKey": %q,
  "httpPort": %d, "tlsPort": %d, "ocspResponderURL": "", "externalAccountBindingRequired": false}}`,
		listen, mgmt, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), httpPort, tlsPort)
	if err := os.WriteFile(filepath.Join(dir, "pebble.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "pebble-challtestsrv", nil, "-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	startProcess(t, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dnsAddr)
	p.dir = "https://" + listen + "/dir"
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("https://" + mgmt + "/roots/0")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.issuer = x509.NewCertPool()
			if resp.StatusCode == http.StatusOK && p.issuer.AppendCertsFromPEM(b) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer on %s: %v", mgmt, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestACMECertificateFromPebble: serve --acme-domain obtains a certificate
// from an ACME CA (Debian's pebble on 127.0.0.1, answering its TLS-ALPN-01
// challenge on the same listener), serves it, renews it when forced with
// docker forge cert --renew, and after a restart serves the renewed one
// from the data dir without a new order.
func TestACMECertificateFromPebble(t *testing.T) {
	const domain = "forge.e2e.test"
	tlsPort := freePort(t)
	pebble := startPebble(t, tlsPort, freePort(t))
	e := newEnv(t, "")
	served := &tls.Config{RootCAs: pebble.issuer, ServerName: domain}
	e.https = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: served}}
	args := []string{"--addr", fmt.Sprintf("127.0.0.1:%d", tlsPort), "--acme-domain", domain,
		"--acme-ca", pebble.dir, "--acme-ca-root", pebble.caPath}
	secret := randomName("e2e-webhook-secret-")
	d := e.startDaemon(secret, args...) // waits until /healthz answers over HTTPS: the certificate is there

	first := servedSerial(t, d.addr, domain, served)
	if log := d.Log(); !strings.Contains(log, "certificate obtained successfully") || !strings.Contains(log, "tls-alpn-01") {
		t.Fatalf("the daemon's log does not show a certificate obtained through a TLS-ALPN-01 challenge:\n%s", log)
	}
	type certInfo struct {
		Source, Issuer, Serial string
		Names                  []string
	}
	var info certInfo
	e.forgeJSON(&info, "cert")
	if info.Source != "acme" || info.Serial != first || len(info.Names) != 1 || info.Names[0] != domain || !strings.Contains(info.Issuer, "Pebble") {
		t.Fatalf("docker forge cert = %+v, want pebble's certificate for %s, serial %s", info, domain, first)
	}

	var renewed certInfo
	e.forgeJSON(&renewed, "cert", "--renew")
	if renewed.Serial == first || renewed.Source != "acme" {
		t.Fatalf("docker forge cert --renew = %+v, want a new certificate (the old serial was %s)", renewed, first)
	}
	if got := servedSerial(t, d.addr, domain, served); got != renewed.Serial {
		t.Fatalf("after the renewal a new connection is shown serial %s, want the renewed %s", got, renewed.Serial)
	}

	// A restart serves what the data dir keeps: no new order.
	d.stop(t)
	if _, err := os.Stat(filepath.Join(e.dataDir, "acme")); err != nil {
		t.Fatalf("no certificates kept in the data dir: %v", err)
	}
	d = e.startDaemon(secret, args...)
	if got := servedSerial(t, d.addr, domain, served); got != renewed.Serial {
		t.Errorf("after a restart serial %s is served, want the kept %s", got, renewed.Serial)
	}
	if strings.Contains(d.Log(), "obtaining certificate") {
		t.Error("the restarted daemon ordered a certificate instead of serving the one it kept")
	}
	if strings.Contains(d.Log(), secret) {
		t.Error("the webhook secret is in the daemon's log")
	}
}

// TestACMEHTTPChallengeOnThePlainListener: with --http-addr, a CA that
// cannot reach the HTTPS port (here pebble checks TLS-ALPN-01 on a port
// where nothing listens) validates HTTP-01 on the plain listener instead,
// which otherwise only redirects.
func TestACMEHTTPChallengeOnThePlainListener(t *testing.T) {
	const domain = "plain.e2e.test"
	tlsPort, httpPort := freePort(t), freePort(t)
	pebble := startPebble(t, freePort(t), httpPort)
	e := newEnv(t, "")
	served := &tls.Config{RootCAs: pebble.issuer, ServerName: domain}
	e.https = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: served}}
	d := e.startDaemon(randomName("e2e-webhook-secret-"), "--addr", fmt.Sprintf("127.0.0.1:%d", tlsPort),
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "--acme-domain", domain,
		"--acme-ca", pebble.dir, "--acme-ca-root", pebble.caPath)
	if log := d.Log(); !strings.Contains(log, "certificate obtained successfully") || !strings.Contains(log, "http-01") {
		t.Fatalf("the daemon's log does not show a certificate obtained through HTTP-01:\n%s", log)
	}
	servedSerial(t, d.addr, domain, served)

	// The plain listener redirects a page and refuses the API.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(fmt.Sprintf("http://127.0.0.1:%d/projects/shop", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://127.0.0.1:%d/projects/shop", tlsPort); resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("a page on the plain listener = %d to %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/projects", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the API on the plain listener = %d, want 403", resp.StatusCode)
	}
}
