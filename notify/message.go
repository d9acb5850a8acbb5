package notify

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/docker-forge/docker-forge"
)

// The events a notification is about.
const (
	EventSucceeded      = "deploy.succeeded"
	EventFailed         = "deploy.failed"
	EventAutoRollback   = "rollback.auto"
	EventManualRollback = "rollback.manual"
	EventRollbackFailed = "rollback.failed"
	EventUnmatched      = "push.unmatched"
	// EventTest is docker forge notify test's message.
	EventTest = "test"
)

// Filters are what forge.notify on a service lets through.
const (
	FilterAll     = "all"
	FilterFailure = "failure"
	FilterChange  = "change"
)

// LabelNotify is the service label that filters a project's notifications.
const LabelNotify = "forge.notify"

// EventOf is the event a finished deploy is, "" for one nobody is told of
// (an interrupted deploy: the deploy that converges again says how it
// ended).
func EventOf(d forge.Deploy) string {
	switch {
	case d.Status == forge.StatusSucceeded && d.Reason == forge.ReasonRollback && d.Reverts != 0:
		return EventAutoRollback
	case d.Status == forge.StatusSucceeded && d.Reason == forge.ReasonRollback:
		return EventManualRollback
	case d.Status == forge.StatusSucceeded:
		return EventSucceeded
	case d.Status == forge.StatusFailed && d.Reason == forge.ReasonRollback:
		return EventRollbackFailed
	case d.Status == forge.StatusFailed:
		return EventFailed
	}
	return ""
}

// Wanted reports whether the filters of a deploy's services let its event
// through: a service labelled forge.notify=failure wants failures and
// rollbacks, change wants everything but a deploy that changed nothing,
// all (the default) everything. One service that wants it is enough.
func Wanted(event string, d forge.Deploy, filters map[string]string) bool {
	changed := slices.ContainsFunc(d.Services, func(s forge.ServiceDeploy) bool { return s.Changed })
	for _, s := range d.Services {
		switch filters[s.Service] {
		case FilterFailure:
			if event != EventSucceeded && event != EventManualRollback {
				return true
			}
		case FilterChange:
			if event != EventSucceeded || changed {
				return true
			}
		default:
			return true
		}
	}
	return len(d.Services) == 0
}

// Message is what a template is given.
type Message struct {
	Event   string
	Title   string
	Project string
	// Engine is the docker context the project runs on.
	Engine string
	Deploy *forge.Deploy
	// Services are the deploy's services, before → after.
	Services []Line
	Reason   string
	Trigger  string
	Duration string
	// Link is the project's page, when serve --public-url is set.
	Link string
	// Text is the message of an event of no deploy.
	Text string
	// Key names the notification (the same on a retry).
	Key string
}

// Line is one service's part in a deploy.
type Line struct {
	Service, From, To, Why string
}

// DefaultTemplate is the body under the title (every channel shows the
// title: as a chat message's heading, an e-mail's subject): short in a
// chat and readable as an e-mail.
const DefaultTemplate = `{{range .Services}}• {{.Service}}: {{.From}} → {{.To}}{{with .Why}} ({{.}}){{end}}
{{end}}{{if .Deploy}}{{.Reason}}{{with .Trigger}} · {{.}}{{end}}{{with .Duration}} · {{.}}{{end}} · deploy {{.Deploy.ID}}{{end}}{{with .Text}}{{.}}{{end}}{{with .Link}}
{{.}}{{end}}`

// ParseTemplate reads a message template (Go text/template over Message).
func ParseTemplate(text string) (*template.Template, error) {
	if text == "" {
		text = DefaultTemplate
	}
	return template.New("message").Option("missingkey=error").Parse(text)
}

// NewMessage says what a deploy did, never with a raw error or a secret:
// the deploy records only generic reasons.
func NewMessage(event string, d *forge.Deploy, text, publicURL, key string) Message {
	m := Message{Event: event, Deploy: d, Text: text, Key: key}
	if d == nil {
		m.Title = "docker-forge: " + text
		return m
	}
	m.Project, m.Engine = d.Project, d.Engine
	// The title names the project; one on another engine than the default
	// context says which ("shop on edge").
	name := d.Project
	if d.Engine != "" && d.Engine != "default" {
		name += " on " + d.Engine
	}
	for _, s := range d.Services {
		to := s.Digest
		if to == "" {
			to = s.Target()
		}
		m.Services = append(m.Services, Line{Service: s.Service, From: short(s.Previous), To: short(to), Why: strings.Join(s.Why, ", ")})
	}
	if d.Commit != "" {
		m.Services = append(m.Services, Line{Service: "commit", From: shortCommit(d.PreviousCommit), To: shortCommit(d.Commit)})
	}
	m.Reason = string(d.Reason)
	switch {
	case d.Trigger.Provider != "":
		m.Trigger = d.Trigger.Provider
	case d.Trigger.User != "":
		m.Trigger = "by " + d.Trigger.User
	}
	if !d.Started.IsZero() && d.Finished.After(d.Started) {
		m.Duration = d.Finished.Sub(d.Started).Round(time.Millisecond).String()
	}
	if publicURL != "" {
		m.Link = strings.TrimRight(publicURL, "/") + "/projects/" + d.Project
		if d.Engine != "" {
			m.Link += "?context=" + url.QueryEscape(d.Engine)
		}
		m.Link += fmt.Sprintf("#deploy-%d", d.ID)
	}
	switch event {
	case EventSucceeded:
		m.Title = fmt.Sprintf("✅ %s: deploy %d succeeded", name, d.ID)
	case EventFailed:
		m.Title = fmt.Sprintf("❌ %s: deploy %d failed: %s", name, d.ID, d.Error)
		if d.RevertedBy != 0 {
			m.Title += fmt.Sprintf(" (rolled back by deploy %d)", d.RevertedBy)
		}
	case EventAutoRollback:
		m.Title = fmt.Sprintf("↩ %s: deploy %d rolled back failed deploy %d automatically", name, d.ID, d.Reverts)
	case EventManualRollback:
		m.Title = fmt.Sprintf("↩ %s: deploy %d rolled back to deploy %d", name, d.ID, d.RollbackOf)
	case EventRollbackFailed:
		m.Title = fmt.Sprintf("🚨 %s: rollback %d failed, the project needs attention: %s", name, d.ID, d.Error)
	}
	return m
}

// Render is a message's title and body from the template.
func Render(t *template.Template, m Message) (string, string, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, m); err != nil {
		return m.Title, "", fmt.Errorf("notification template: %w", err)
	}
	return m.Title, strings.TrimSpace(buf.String()), nil
}

func short(digest string) string {
	if digest == "" {
		return "-"
	}
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}

func shortCommit(c string) string {
	if c == "" {
		return "-"
	}
	return c[:min(12, len(c))]
}
