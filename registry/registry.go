// Package registry asks container registries, over the Distribution HTTP API,
// what digest a tag points at, with HEAD requests only: registries count
// manifest GETs against rate limits, HEADs are free. It handles the bearer
// token and basic auth challenges with the user's registry credentials.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/distribution/reference"
)

// manifestTypes are asked for, so a multi-platform image answers with the
// digest of its index, as docker push and pull see it.
var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// Credentials returns the user name and password (or identity token as
// password) for a registry host, empty when there are none.
type Credentials func(host string) (user, password string)

// Client resolves tags with HEAD requests.
type Client struct {
	HTTP  *http.Client
	Creds Credentials
}

// ErrNotFound is returned for a tag or repository the registry does not have.
var ErrNotFound = errors.New("registry: manifest unknown")

// Head returns the digest that image (repo:tag) points at.
func (c *Client) Head(ctx context.Context, image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("head %s: %w", image, err)
	}
	named = reference.TagNameOnly(named)
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return "", fmt.Errorf("head %s: no tag", image)
	}
	host := reference.Domain(named)
	u := url.URL{
		Scheme: scheme(host),
		Host:   apiHost(host),
		Path:   "/v2/" + reference.Path(named) + "/manifests/" + tagged.Tag(),
	}
	resp, err := c.do(ctx, u.String(), "")
	if err != nil {
		return "", fmt.Errorf("head %s: %w", image, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		auth, err := c.authorize(ctx, host, resp.Header.Get("WWW-Authenticate"))
		if err != nil {
			return "", fmt.Errorf("head %s: %w", image, err)
		}
		if resp, err = c.do(ctx, u.String(), auth); err != nil {
			return "", fmt.Errorf("head %s: %w", image, err)
		}
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", fmt.Errorf("head %s: %w", image, ErrNotFound)
	default:
		return "", fmt.Errorf("head %s: registry answered %s", image, resp.Status)
	}
	d := resp.Header.Get("Docker-Content-Digest")
	if !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64 {
		return "", fmt.Errorf("head %s: no usable Docker-Content-Digest in the answer", image)
	}
	return d, nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, u, auth string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", strings.Join(manifestTypes, ", "))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return resp, nil
}

// authorize answers a 401's challenge: basic credentials, or a bearer token
// fetched from the challenge's realm.
func (c *Client) authorize(ctx context.Context, host, challenge string) (string, error) {
	user, pass := "", ""
	if c.Creds != nil {
		user, pass = c.Creds(host)
	}
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		if user == "" {
			return "", errors.New("registry wants credentials and the docker config has none for " + host)
		}
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization"), nil
	case "bearer":
		tok, err := c.token(ctx, params, user, pass)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	}
	return "", fmt.Errorf("registry sent an unsupported auth challenge %q", scheme)
}

func (c *Client) token(ctx context.Context, params map[string]string, user, pass string) (string, error) {
	realm, err := url.Parse(params["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return "", errors.New("registry sent a bearer challenge without a usable realm")
	}
	q := realm.Query()
	for _, k := range []string{"service", "scope"} {
		if v := params[k]; v != "" {
			q.Set(k, v)
		}
	}
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	// Credentials travel only over TLS, or to a realm on this machine.
	if user != "" && (realm.Scheme == "https" || scheme(realm.Host) == "http") {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: the auth server answered %s", resp.Status)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	if body.Token == "" {
		return "", errors.New("token: the auth server sent no token")
	}
	return body.Token, nil
}

// parseChallenge splits `Bearer realm="…",service="…",scope="…"`.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		var kv string
		rest = strings.TrimLeft(rest, " ,")
		k, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				break
			}
			kv, rest = after[1:1+end], after[2+end:]
		} else {
			kv, rest, _ = strings.Cut(after, ",")
		}
		params[strings.ToLower(strings.TrimSpace(k))] = kv
	}
	return scheme, params
}

// apiHost maps Docker Hub's name to its API host.
func apiHost(host string) string {
	if host == "docker.io" {
		return "registry-1.docker.io"
	}
	return host
}

// scheme is plain HTTP for loopback registries, as the Docker engine allows
// by default, HTTPS for everything else.
func scheme(host string) string {
	if IsLoopback(host) {
		return "http"
	}
	return "https"
}

// IsLoopback reports whether a registry host (name or address, with or
// without a port) is this machine's.
func IsLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
