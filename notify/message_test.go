package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

func TestEventOf(t *testing.T) {
	tests := []struct {
		name string
		d    forge.Deploy
		want string
	}{
		{"push succeeded", forge.Deploy{Status: forge.StatusSucceeded, Reason: forge.ReasonPush}, EventSucceeded},
		{"manual failed", forge.Deploy{Status: forge.StatusFailed, Reason: forge.ReasonManual}, EventFailed},
		{"automatic rollback", forge.Deploy{Status: forge.StatusSucceeded, Reason: forge.ReasonRollback, Reverts: 4}, EventAutoRollback},
		{"manual rollback", forge.Deploy{Status: forge.StatusSucceeded, Reason: forge.ReasonRollback, RollbackOf: 2}, EventManualRollback},
		{"rollback failed", forge.Deploy{Status: forge.StatusFailed, Reason: forge.ReasonRollback, Reverts: 4}, EventRollbackFailed},
		{"interrupted: the deploy that resumes it tells", forge.Deploy{Status: forge.StatusInterrupted}, ""},
		{"still running", forge.Deploy{Status: forge.StatusRunning}, ""},
	}
	for _, tt := range tests {
		if got := EventOf(tt.d); got != tt.want {
			t.Errorf("%s: EventOf = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestWanted(t *testing.T) {
	changed := forge.Deploy{Services: []forge.ServiceDeploy{{Service: "web", Changed: true}, {Service: "db"}}}
	same := forge.Deploy{Services: []forge.ServiceDeploy{{Service: "web"}, {Service: "db"}}}
	tests := []struct {
		name    string
		event   string
		d       forge.Deploy
		filters map[string]string
		want    bool
	}{
		{"no filter: everything", EventSucceeded, same, nil, true},
		{"failure drops a success", EventSucceeded, changed, map[string]string{"web": FilterFailure, "db": FilterFailure}, false},
		{"failure keeps a failure", EventFailed, changed, map[string]string{"web": FilterFailure, "db": FilterFailure}, true},
		{"failure keeps an automatic rollback", EventAutoRollback, changed, map[string]string{"web": FilterFailure, "db": FilterFailure}, true},
		{"change drops a deploy that changed nothing", EventSucceeded, same, map[string]string{"web": FilterChange, "db": FilterChange}, false},
		{"change keeps one that did", EventSucceeded, changed, map[string]string{"web": FilterChange, "db": FilterChange}, true},
		{"one service that wants it is enough", EventSucceeded, same, map[string]string{"web": FilterFailure}, true},
	}
	for _, tt := range tests {
		if got := Wanted(tt.event, tt.d, tt.filters); got != tt.want {
			t.Errorf("%s: Wanted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDefaultMessage(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	d := &forge.Deploy{
		ID: 42, Project: "shop", Reason: forge.ReasonPush, Status: forge.StatusFailed, Error: "health gate failed: web is unhealthy",
		Trigger: forge.Trigger{Provider: "distribution", Delivery: "d-1"}, Started: start, Finished: start.Add(3200 * time.Millisecond),
		RevertedBy: 43,
		Services: []forge.ServiceDeploy{{
			Service: "web", Image: "ghcr.io/acme/shop:live",
			Previous: "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			Digest:   "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			Why:      []string{"new digest"},
		}},
	}
	tmpl, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	title, body, err := Render(tmpl, NewMessage(EventFailed, d, "", "https://forge.example.com/", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if title != "❌ shop: deploy 42 failed: health gate failed: web is unhealthy (rolled back by deploy 43)" {
		t.Errorf("title = %q", title)
	}
	for _, want := range []string{
		"web: sha256:111111111111 → sha256:222222222222 (new digest)",
		"push · distribution · 3.2s · deploy 42",
		"https://forge.example.com/projects/shop#deploy-42",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if lines := strings.Count(body, "\n") + 1; lines > 4 {
		t.Errorf("body has %d lines, want it short:\n%s", lines, body)
	}
}

// TestMessageNamesAnotherEngine: a deploy on another engine than the
// default context says which in its title, and its link opens that
// engine's project page.
func TestMessageNamesAnotherEngine(t *testing.T) {
	tmpl, err := ParseTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ engine, title, link string }{
		{"edge", "✅ shop on edge: deploy 7 succeeded", "https://forge.example.com/projects/shop?context=edge#deploy-7"},
		{"default", "✅ shop: deploy 7 succeeded", "https://forge.example.com/projects/shop?context=default#deploy-7"},
	} {
		d := &forge.Deploy{ID: 7, Project: "shop", Engine: c.engine, Reason: forge.ReasonPush, Status: forge.StatusSucceeded}
		title, body, err := Render(tmpl, NewMessage(EventSucceeded, d, "", "https://forge.example.com", "k"))
		if err != nil {
			t.Fatal(err)
		}
		if title != c.title || !strings.Contains(body, c.link) {
			t.Errorf("on %s: title %q, body %q; want %q and %s", c.engine, title, body, c.title, c.link)
		}
	}
}

func TestGitDeployMessageSaysTheCommits(t *testing.T) {
	d := &forge.Deploy{ID: 7, Project: "site", Reason: forge.ReasonPush, Status: forge.StatusSucceeded,
		PreviousCommit: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Commit: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		Trigger: forge.Trigger{User: "alice"}}
	tmpl, _ := ParseTemplate("")
	title, body, err := Render(tmpl, NewMessage(EventSucceeded, d, "", "", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if title != "✅ site: deploy 7 succeeded" || !strings.Contains(body, "commit: aaaaaaaaaaaa → bbbbbbbbbbbb") || !strings.Contains(body, "by alice") {
		t.Errorf("git deploy message = %q / %q", title, body)
	}
}

func TestCustomTemplate(t *testing.T) {
	tmpl, err := ParseTemplate(`{{.Event}} {{.Project}} #{{.Deploy.ID}}{{range .Services}} {{.Service}}={{.To}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	d := &forge.Deploy{ID: 3, Project: "shop", Status: forge.StatusSucceeded, Services: []forge.ServiceDeploy{{Service: "web", Digest: "sha256:abcdefabcdefabcdef"}}}
	_, body, err := Render(tmpl, NewMessage(EventSucceeded, d, "", "", "k"))
	if err != nil || body != "deploy.succeeded shop #3 web=sha256:abcdefabcdef" {
		t.Fatalf("custom template = %q, %v", body, err)
	}
	if _, err := ParseTemplate("{{.Nope"); err == nil {
		t.Fatal("a template that does not parse was accepted")
	}
	bad, _ := ParseTemplate("{{.Deploy.Nope}}")
	if _, _, err := Render(bad, NewMessage(EventSucceeded, d, "", "", "k")); err == nil {
		t.Fatal("a template naming a field that does not exist rendered")
	}
}
