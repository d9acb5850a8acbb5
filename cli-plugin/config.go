package cliplugin

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/docker-forge/docker-forge/expose"

	"github.com/docker-forge/docker-forge/gitsrc"
	"github.com/docker-forge/docker-forge/webhook"
)

// fileConfig is the optional config file (--config, default
// <data-dir>/config.yaml):
//
//	webhook:
//	  secret_file: /run/secrets/forge-webhook   # or secret: "…"; the default for every provider
//	  replay_window: 24h                          # how long a delivery id is refused again
//	  allow_from: [203.0.113.0/24]                # only these source networks, for every provider (optional)
//	  providers:
//	    github: {secret_file: /run/secrets/github-hook, allow_from: [140.82.112.0/20]}
//	    gitlab: {secret: "…"}
//	git:
//	  credentials:                                # for private repositories of x-forge sources
//	    - repository: https://git.example.com/acme/   # a URL prefix; the longest match wins
//	      token_file: /run/secrets/git-token          # HTTPS token (username: x-access-token by default)
//	    - repository: git@github.com:acme/
//	      ssh_key_file: /run/secrets/deploy-key      # SSH deploy key
//
// FORGE_WEBHOOK_SECRET (or FORGE_WEBHOOK_SECRET_FILE) overrides the default
// secret. Secrets read from files keep them out of process listings.
type fileConfig struct {
	Webhook struct {
		secretSource `yaml:",inline"`
		ReplayWindow string                    `yaml:"replay_window"`
		AllowFrom    []string                  `yaml:"allow_from"`
		Providers    map[string]providerConfig `yaml:"providers"`
	} `yaml:"webhook"`
	Git struct {
		Credentials []gitCredential `yaml:"credentials"`
	} `yaml:"git"`
}

type gitCredential struct {
	Repository string `yaml:"repository"`
	Username   string `yaml:"username"`
	TokenFile  string `yaml:"token_file"`
	SSHKeyFile string `yaml:"ssh_key_file"`
}

// gitCred is one configured credential and the repositories it opens.
type gitCred struct {
	prefix string
	cred   gitsrc.Credentials
}

// providerConfig is one provider's part of the config file.
type providerConfig struct {
	secretSource `yaml:",inline"`
	AllowFrom    []string `yaml:"allow_from"`
}

type secretSource struct {
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
}

// resolve returns the secret, read from its file when one is named.
func (s secretSource) resolve(what string) (string, error) {
	if s.Secret != "" && s.SecretFile != "" {
		return "", fmt.Errorf("%s: give secret or secret_file, not both", what)
	}
	if s.SecretFile == "" {
		return s.Secret, nil
	}
	return readSecretFile(s.SecretFile, what)
}

func readSecretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", what, path)
	}
	return v, nil
}

// webhookSecrets is what serve authenticates webhooks with.
type webhookSecrets struct {
	Default      string
	PerProvider  map[string]string
	ReplayWindow time.Duration
	Git          []gitCred
	// AllowFrom lists the networks each limited provider is taken from.
	AllowFrom map[string][]netip.Prefix
}

// loadSecrets reads the config file (a missing default file is fine) and the
// environment.
func loadSecrets(path string, explicit bool) (webhookSecrets, error) {
	var out webhookSecrets
	var cfg fileConfig
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
	case err != nil:
		return out, fmt.Errorf("config %s: %w", path, err)
	default:
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return out, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if out.Default, err = cfg.Webhook.resolve("config webhook secret"); err != nil {
		return out, err
	}
	out.PerProvider = map[string]string{}
	for name, src := range cfg.Webhook.Providers {
		v, err := src.resolve("config secret for " + name)
		if err != nil {
			return out, err
		}
		out.PerProvider[name] = v
	}
	if out.AllowFrom, err = allowFrom(cfg.Webhook.AllowFrom, cfg.Webhook.Providers); err != nil {
		return out, fmt.Errorf("config %s: %w", path, err)
	}
	for i, c := range cfg.Git.Credentials {
		what := fmt.Sprintf("config git credential %d (%s)", i+1, c.Repository)
		switch {
		case c.Repository == "":
			return out, fmt.Errorf("%s: repository (a URL prefix) is required", what)
		case (c.TokenFile == "") == (c.SSHKeyFile == ""):
			return out, fmt.Errorf("%s: give token_file or ssh_key_file, one of them", what)
		}
		gc := gitCred{prefix: c.Repository, cred: gitsrc.Credentials{Username: c.Username, SSHKeyFile: c.SSHKeyFile}}
		if c.TokenFile != "" {
			if gc.cred.Token, err = readSecretFile(c.TokenFile, what); err != nil {
				return out, err
			}
		} else if _, err := os.Stat(c.SSHKeyFile); err != nil {
			return out, fmt.Errorf("%s: %w", what, err)
		}
		out.Git = append(out.Git, gc)
	}
	if w := cfg.Webhook.ReplayWindow; w != "" {
		if out.ReplayWindow, err = time.ParseDuration(w); err != nil || out.ReplayWindow <= 0 {
			return out, fmt.Errorf("config %s: replay_window %q is not a positive duration", path, w)
		}
	}
	if v := os.Getenv("FORGE_WEBHOOK_SECRET"); v != "" {
		out.Default = v
	} else if f := os.Getenv("FORGE_WEBHOOK_SECRET_FILE"); f != "" {
		if out.Default, err = readSecretFile(f, "FORGE_WEBHOOK_SECRET_FILE"); err != nil {
			return out, err
		}
	}
	return out, nil
}

// allowFrom is each provider's allowlist: its own, or the webhook-wide one.
func allowFrom(all []string, per map[string]providerConfig) (map[string][]netip.Prefix, error) {
	out := map[string][]netip.Prefix{}
	for name, own := range per {
		if own.AllowFrom != nil && !slices.Contains(webhook.ProviderNames(), name) {
			return nil, fmt.Errorf("allow_from is configured for unknown provider %q", name)
		}
	}
	def, err := expose.ParsePrefixes("webhook allow_from", all)
	if err != nil {
		return nil, err
	}
	for _, name := range webhook.ProviderNames() {
		own, ok := per[name]
		switch {
		case ok && own.AllowFrom != nil:
			if out[name], err = expose.ParsePrefixes("allow_from of "+name, own.AllowFrom); err != nil {
				return nil, err
			}
		case all != nil:
			out[name] = def
		}
	}
	return out, nil
}

// coversAll reports whether every provider has a secret of its own.
func (w webhookSecrets) coversAll() bool {
	for _, name := range webhook.ProviderNames() {
		if w.PerProvider[name] == "" {
			return false
		}
	}
	return true
}

// all lists every secret, for scrubbing logs.
func (w webhookSecrets) all() []string {
	out := []string{w.Default}
	for _, v := range w.PerProvider {
		out = append(out, v)
	}
	for _, g := range w.Git {
		if g.cred.Token != "" {
			out = append(out, g.cred.Token)
		}
	}
	return out
}

// gitCredentials returns the credentials whose repository prefix is the
// longest that repo starts with; none when no prefix matches.
func (w webhookSecrets) gitCredentials(repo string) gitsrc.Credentials {
	var best gitCred
	for _, g := range w.Git {
		if prefixOf(g.prefix, repo) && len(g.prefix) > len(best.prefix) {
			best = g
		}
	}
	return best.cred
}

// prefixOf reports whether prefix starts repo and ends where a part of the
// URL does: https://git.example.com opens https://git.example.com/acme/x,
// and .../acme/x opens .../acme/x.git, but never https://git.example.com.evil.io/x.
func prefixOf(prefix, repo string) bool {
	if !strings.HasPrefix(repo, prefix) {
		return false
	}
	if len(repo) == len(prefix) || strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, ":") {
		return true
	}
	rest := repo[len(prefix):]
	return rest[0] == '/' || rest[0] == ':' || rest == ".git" || strings.HasPrefix(rest, ".git/")
}

func (g *globalOptions) configPath(flag string) (string, bool) {
	if flag != "" {
		return flag, true
	}
	return filepath.Join(g.dataDir, "config.yaml"), false
}
