// Package certs gives the daemon's HTTPS listener its certificates: from a
// certificate and key file, reloaded when they change, or from an ACME CA
// through certmagic, obtained and renewed on their own and kept in the data
// dir.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// MinVersion is the oldest TLS version the listener speaks.
const MinVersion = tls.VersionTLS12

// Info describes the certificate being served, for docker forge cert.
type Info struct {
	Source   string    `json:"source"` // "files" or "acme"
	Names    []string  `json:"names"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	Serial   string    `json:"serial"`
	// Loaded is when forge last loaded or obtained it.
	Loaded time.Time `json:"loaded,omitzero"`
}

// Files serves the certificate in a pair of PEM files and loads it again
// when either changes (a certbot renewal, a rotated secret mount), checking
// at most once per CheckEvery. A pair that does not load is logged and the
// previous certificate kept, so a half-written rotation never takes HTTPS
// down. Connections already open are not touched.
type Files struct {
	certPath, keyPath string
	log               *slog.Logger
	// CheckEvery bounds how often the files are looked at (default 1 s).
	CheckEvery time.Duration

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
	loaded  time.Time
}

// NewFiles loads the pair once: a pair that does not load is an error here.
func NewFiles(certPath, keyPath string, log *slog.Logger) (*Files, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Files{certPath: certPath, keyPath: keyPath, log: log.With("component", "tls"), CheckEvery: time.Second}
	stamp, err := f.stampNow()
	if err != nil {
		return nil, err
	}
	if err := f.load(stamp); err != nil {
		return nil, err
	}
	return f, nil
}

// stampNow names the files' current versions: their sizes and mtimes.
func (f *Files) stampNow() (string, error) {
	var out string
	for _, p := range []string{f.certPath, f.keyPath} {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("tls: %w", err)
		}
		out += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return out, nil
}

func (f *Files) load(stamp string) error {
	c, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", f.certPath, f.keyPath, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("tls: parse %s: %w", f.certPath, err)
		}
	}
	f.cert, f.stamp, f.loaded = &c, stamp, time.Now()
	return nil
}

// GetCertificate is tls.Config's: the current certificate, reloaded first
// when the files changed.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check()
	return f.cert, nil
}

// check reloads the files when they changed, at most once per CheckEvery.
// The caller holds f.mu.
func (f *Files) check() {
	if now := time.Now(); now.Sub(f.checked) >= f.CheckEvery {
		f.checked = now
		f.reload()
	}
}

func (f *Files) reload() {
	stamp, err := f.stampNow()
	if err != nil {
		f.log.Warn("certificate files unreadable; serving the previous certificate", "error", err)
		return
	}
	if stamp == f.stamp {
		return
	}
	if err := f.load(stamp); err != nil {
		// A rotation may write the certificate before the key: try again at
		// the next check, and keep serving what works.
		f.log.Warn("certificate files changed but do not load; serving the previous certificate", "error", err)
		return
	}
	f.log.Info("certificate reloaded", "names", f.cert.Leaf.DNSNames, "not_after", f.cert.Leaf.NotAfter)
}

// TLSConfig is the listener's configuration.
func (f *Files) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: MinVersion, GetCertificate: f.GetCertificate}
}

// Info describes the certificate served now (the files are looked at
// first, as a handshake would).
func (f *Files) Info() (Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.check()
	if f.cert == nil {
		return Info{}, errors.New("tls: no certificate loaded")
	}
	return describe("files", f.cert.Leaf, f.loaded), nil
}

func describe(source string, leaf *x509.Certificate, loaded time.Time) Info {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	return Info{Source: source, Names: names, Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16), Loaded: loaded}
}
