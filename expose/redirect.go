package expose

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// Redirect is the handler of the plain-HTTP listener beside an HTTPS one:
// it only sends a person's browser to the same page over HTTPS (a GET or
// HEAD of a page). Anything else, an API call, a webhook, /metrics, is
// refused with 403 and told where to go, so a client that sent a token in
// clear finds out rather than being quietly followed. httpsPort is the
// port people reach HTTPS on ("443" or "" for the default). acme, when
// not nil, answers ACME HTTP-01 challenges first (and passes the rest on).
func Redirect(httpsPort string, acme func(http.Handler) http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := httpsURL(r, httpsPort)
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !machine(r.URL.Path) {
			http.Redirect(w, r, target, http.StatusPermanentRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "docker-forge answers this only over HTTPS: " + target})
	})
	if acme != nil {
		h = acme(h)
	}
	return h
}

// machine reports whether path is for programs (the API, webhooks,
// metrics), which carry credentials, rather than a page.
func machine(path string) bool {
	for _, prefix := range []string{"/api", "/hooks", "/metrics"} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

// httpsURL is r's URL on the HTTPS port of the same host.
func httpsURL(r *http.Request, port string) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + strings.Trim(host, "[]") + "]"
	}
	if port != "" && port != "443" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	return "https://" + host + r.URL.RequestURI()
}
