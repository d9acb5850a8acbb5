package expose

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
)

// Redirect is the handler of the plain-HTTP listener beside an HTTPS one:
// it only sends a person's browser to the same page over HTTPS (a GET or
// HEAD outside /api/). Anything else, an API call or a webhook, is refused
// with 403 and told where to go, so a client that sent a token in clear
// finds out rather than being quietly followed. acme, when not nil,
// answers ACME HTTP-01 challenges first (and passes the rest on).
func Redirect(httpsPort string, acme func(http.Handler) http.Handler) http.Handler {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := httpsURL(r, httpsPort)
		api := r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !api {
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
