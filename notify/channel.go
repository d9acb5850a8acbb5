// Package notify tells people what docker-forge did: a deploy that
// succeeded or failed, an automatic or a manual rollback, a project that
// needs attention. The dispatcher writes each notification to the ledger's
// outbox in the transaction that finishes the deploy (Notifier); the Sender
// drains the outbox to shoutrrr URLs (Slack, Discord, Teams, Telegram, ntfy,
// Gotify, Matrix, Pushover, SMTP, generic webhooks, …), one message in
// flight per channel, with retries and backoff, so a channel that is down
// never slows a deploy and loses nothing across a restart. Channel URLs
// carry credentials: they are stored sealed and shown masked.
package notify

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
)

// Channel is a notification URL, checked, with the name it is shown by.
type Channel struct {
	URL  string
	Name string
}

// Keys seals URLs and names channels; it is made from the data dir's key.
type Keys struct {
	aead cipher.AEAD
	name []byte
}

// NewKeys derives the outbox's keys from a secret (the data dir's key).
func NewKeys(secret []byte) (*Keys, error) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("docker-forge outbox seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keys{aead: aead, name: derive("docker-forge channel name")}, nil
}

// Seal encrypts a URL for the outbox.
func (k *Keys) Seal(u string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, []byte(u), nil)
}

// Open decrypts a sealed URL.
func (k *Keys) Open(sealed []byte) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed URL too short")
	}
	b, err := k.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", fmt.Errorf("open a sealed URL (was the data dir's key replaced?): %w", err)
	}
	return string(b), nil
}

// Name is how a channel is shown: its service and, for services whose host
// is a server rather than a token, that host; never credentials, path or
// query. A keyed hash tells two channels of one host apart.
func (k *Keys) Name(raw string) string {
	m := hmac.New(sha256.New, k.name)
	m.Write([]byte(raw))
	tag := hex.EncodeToString(m.Sum(nil))[:8]
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "invalid#" + tag
	}
	host := u.Hostname()
	service, _, _ := strings.Cut(u.Scheme, "+")
	if u.User != nil || host == "" || !serverHost[service] {
		host = "…"
	}
	return u.Scheme + "://" + host + "#" + tag
}

// serverHost are the services whose URL's host is the server's name (in
// others, such as pushbullet://TOKEN or ifttt://KEY, it is a secret).
var serverHost = map[string]bool{
	"generic": true, "ntfy": true, "gotify": true, "mattermost": true, "matrix": true, "rocketchat": true,
	"lark": true, "opsgenie": true, "googlechat": true, "signal": true, "smtp": true, "zulip": true,
}

// Check parses a notification URL with shoutrrr, saying why it cannot be
// used without repeating it (it carries credentials).
func (k *Keys) Check(raw string) (Channel, error) {
	ch := Channel{URL: strings.TrimSpace(raw), Name: k.Name(strings.TrimSpace(raw))}
	if u, err := url.Parse(ch.URL); err != nil || u.Scheme == "" {
		return ch, fmt.Errorf("%s: not a URL: want a shoutrrr URL such as ntfy://ntfy.example.com/topic", ch.Name)
	}
	r, err := router.New(nil)
	if err != nil {
		return ch, err
	}
	if _, err := r.Locate(ch.URL); err != nil {
		if errors.Is(err, router.ErrInitializeFailed) {
			err = initError(r, ch.URL, err)
		}
		return ch, fmt.Errorf("%s: %s", ch.Name, Scrub(err.Error(), ch.URL))
	}
	return ch, nil
}

// initError is why a service refused its URL: the router says only that
// it did.
func initError(r *router.ServiceRouter, raw string, err error) error {
	u, perr := url.Parse(raw)
	if perr != nil {
		return err
	}
	svc, serr := r.NewService(u.Scheme)
	if serr != nil {
		return err
	}
	if ierr := svc.Initialize(u, log.New(io.Discard, "", 0)); ierr != nil {
		return fmt.Errorf("%s: %w", u.Scheme, ierr)
	}
	return err
}

// Scrub removes a URL, and any credentials in it, from a message.
func Scrub(msg, raw string) string {
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, "<url>")
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				msg = strings.ReplaceAll(msg, p, "••••")
			}
			if n := u.User.Username(); n != "" {
				msg = strings.ReplaceAll(msg, n, "••••")
			}
		}
		for _, part := range strings.Split(strings.Trim(u.Path, "/"), "/") {
			if len(part) >= 8 {
				msg = strings.ReplaceAll(msg, part, "••••") // tokens in paths (webhooks)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 8 {
					msg = strings.ReplaceAll(msg, v, "••••")
				}
			}
		}
	}
	return msg
}
