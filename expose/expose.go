// Package expose is how the daemon's TCP address faces a network: who a
// request comes from (believing X-Forwarded-* only from trusted proxies),
// whether it arrived over HTTPS, the HSTS header, the plain-HTTP listener
// that only redirects, allowlists of source networks, and the warning for
// a listener that carries secrets in clear. Standard library only.
package expose

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Peer is where a request comes from, as far as forge trusts its proxies.
type Peer struct {
	// Addr is the client's address: the connection's, or the one a trusted
	// proxy names in X-Forwarded-For.
	Addr netip.Addr
	// Secure says the request arrived over HTTPS, at forge itself or at a
	// trusted proxy that says so in X-Forwarded-Proto.
	Secure bool
	// Local says the request came over the daemon's own unix socket, whose
	// permissions are its auth: no network address applies.
	Local bool
}

type peerKey struct{}

// HSTS is the Strict-Transport-Security header answers over HTTPS carry:
// a year, as the preload list asks, without includeSubDomains (forge does
// not speak for the rest of the domain).
const HSTS = "max-age=31536000"

// ParsePrefixes reads networks in CIDR notation; a bare address counts as
// its own /32 or /128. what names the list in an error.
func ParsePrefixes(what string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither a network (10.0.0.0/8) nor an address", what, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Contains reports whether a lies in one of the networks.
func Contains(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Middleware records each request's Peer for PeerOf, believing the
// X-Forwarded-For and X-Forwarded-Proto headers only from a connection out
// of trusted; and on HTTPS it adds the HSTS header.
func Middleware(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := peer(r, trusted)
		if p.Secure {
			w.Header().Set("Strict-Transport-Security", HSTS)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, p)))
	})
}

// LocalMiddleware marks each request as local (the daemon's unix socket).
func LocalMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerKey{}, Peer{Local: true})))
	})
}

// PeerOf is the Peer that Middleware recorded; without it, the
// connection's own address and TLS state.
func PeerOf(r *http.Request) Peer {
	if p, ok := r.Context().Value(peerKey{}).(Peer); ok {
		return p
	}
	return peer(r, nil)
}

func peer(r *http.Request, trusted []netip.Prefix) Peer {
	p := Peer{Addr: remoteAddr(r.RemoteAddr), Secure: r.TLS != nil}
	if !p.Addr.IsValid() || !Contains(trusted, p.Addr) {
		return p
	}
	// The nearest hop that is not a trusted proxy is the client: each proxy
	// appends the address it was reached from. A hop that is no address
	// ("unknown", garbage) ends the walk with no client address, which no
	// allowlist contains: the hops before it were written by the client.
	hops := listValues(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		p.Addr = hopAddr(hops[i])
		if !p.Addr.IsValid() || !Contains(trusted, p.Addr) {
			break
		}
	}
	// The scheme the nearest proxy reports: a client's own value comes
	// first in a list a proxy appends to.
	if protos := listValues(r.Header.Values("X-Forwarded-Proto")); len(protos) > 0 {
		p.Secure = strings.EqualFold(protos[len(protos)-1], "https")
	}
	return p
}

// listValues splits comma-separated header values, in order.
func listValues(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(part))
		}
	}
	return out
}

// hopAddr reads one X-Forwarded-For entry: an address, or an address with a
// port (192.0.2.1:4711, [2001:db8::1]:4711) as some load balancers write.
func hopAddr(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}

// IsLoopback reports whether a listen address (host:port) only takes
// connections from this machine. An empty host, 0.0.0.0 and :: listen
// everywhere; a name other than localhost is taken as reachable.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
