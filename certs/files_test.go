package certs

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge/certs/certstest"
)

// serveTLS runs an HTTPS server on 127.0.0.1 with cfg and returns its address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), TLSConfig: cfg}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// served is the serial of the certificate a new connection to addr sees.
func served(t *testing.T, addr string, ca *certstest.CA) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "forge.test"})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
}

func TestFilesReloadWhenTheyChange(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := certstest.NewCA(t, "forge test CA")
	first := ca.Issue(t, "forge.test", "127.0.0.1")
	first.Write(t, certPath, keyPath)
	f, err := NewFiles(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.CheckEvery = 0
	addr := serveTLS(t, f.TLSConfig())
	if got, want := served(t, addr, ca), first.Cert.SerialNumber.Text(16); got != want {
		t.Fatalf("served serial %s, want the first certificate's %s", got, want)
	}

	// A connection open before the rotation keeps working after it.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "forge.test"}}}
	reused := false
	get := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET over the kept connection: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // read whole, the connection goes back to the pool
		resp.Body.Close()
	}
	get()

	second := ca.Issue(t, "forge.test", "127.0.0.1")
	// Later mtimes than the first pair, whatever the clock's resolution.
	second.Write(t, certPath, keyPath)
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(certPath, later, later)
	// Info looks at the files itself: no handshake needed first.
	if info, err := f.Info(); err != nil || info.Serial != second.Cert.SerialNumber.Text(16) {
		t.Fatalf("Info right after the rotation = %+v, %v; want the second certificate", info, err)
	}
	if got, want := served(t, addr, ca), second.Cert.SerialNumber.Text(16); got != want {
		t.Fatalf("after replacing the files, served serial %s, want the second certificate's %s", got, want)
	}
	get()
	if !reused {
		t.Error("the connection opened before the rotation was not reused after it: it was dropped")
	}

	// A half-written rotation (a key that does not match) keeps the
	// certificate that works.
	third := ca.Issue(t, "forge.test")
	if err := os.WriteFile(certPath, third.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	later = later.Add(2 * time.Second)
	_ = os.Chtimes(certPath, later, later)
	if got, want := served(t, addr, ca), second.Cert.SerialNumber.Text(16); got != want {
		t.Fatalf("with a mismatched pair on disk, served serial %s, want the second (working) certificate's %s", got, want)
	}
	info, err := f.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Source != "files" || info.Serial != second.Cert.SerialNumber.Text(16) || len(info.Names) != 2 {
		t.Errorf("Info = %+v, want the second certificate from files with its two names", info)
	}
}

func TestFilesRefuseOldTLSAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := certstest.NewCA(t, "forge test CA")
	ca.Issue(t, "forge.test").Write(t, certPath, keyPath)
	f, err := NewFiles(certPath, keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, f.TLSConfig())
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "forge.test", MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Errorf("a TLS %s handshake succeeded; want it refused", tls.VersionName(v))
		}
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "forge.test", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	conn.Close()

	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFiles(certPath, keyPath, nil); err == nil {
		t.Error("NewFiles took a key file that is not a key")
	}
	if _, err := NewFiles(filepath.Join(dir, "missing.pem"), keyPath, nil); err == nil {
		t.Error("NewFiles took a certificate file that does not exist")
	}
}
