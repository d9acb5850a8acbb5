package e2e

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/webhook"
)

// TestPluginHandshake: docker lists forge as a CLI plugin, and the same
// binary runs standalone.
func TestPluginHandshake(t *testing.T) {
	e := newEnv(t, "")
	out := e.docker("info", "--format", "{{json .ClientInfo.Plugins}}")
	if !strings.Contains(out, `"Name":"forge"`) || !strings.Contains(out, `"Vendor":"docker-forge"`) {
		t.Fatalf("docker info does not list the forge plugin:\n%s", out)
	}
	if out := e.docker("forge", "version"); !strings.HasPrefix(out, "docker-forge ") {
		t.Fatalf("docker forge version = %q", out)
	}
	help := e.docker("forge", "--help")
	for _, cmd := range []string{"serve", "deploy", "history", "rollback", "ls", "version"} {
		if !strings.Contains(help, "  "+cmd+" ") {
			t.Errorf("docker forge --help does not list %q:\n%s", cmd, help)
		}
	}
	cmd := exec.Command(forgeBin, "version")
	cmd.Env = e.environ()
	if b, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "docker-forge ") {
		t.Fatalf("standalone docker-forge version: %v %q", err, b)
	}
}

// TestServeRefusesToStartWithoutSecret: no FORGE_WEBHOOK_SECRET, no
// --allow-unauthenticated, no daemon, and a message that says what to do.
func TestServeRefusesToStartWithoutSecret(t *testing.T) {
	e := newEnv(t, "")
	cmd := exec.Command(forgeBin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	cmd.Env = append(e.environ(), "FORGE_WEBHOOK_SECRET=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started without a secret:\n%s", out)
	}
	for _, want := range []string{"FORGE_WEBHOOK_SECRET", "--allow-unauthenticated"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal does not mention %s:\n%s", want, out)
		}
	}
}

// TestDeployFaultsRecordFailures runs without a daemon (the CLI opens the
// ledger itself): a registry that does not answer, a tag the registry does
// not have, and a compose file that does not load each give a clear error
// and a failed ledger entry, and create no container.
func TestDeployFaultsRecordFailures(t *testing.T) {
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := newEnv(t, regAddr)
	startRegistry(t, regAddr, "http://127.0.0.1:9/unused", "unused")
	deadAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	tests := []struct {
		name, compose, wantErr string
	}{
		{
			name:    "registry does not answer",
			compose: "services:\n  web:\n    image: " + deadAddr + "/nothing/app:live\n    labels: {forge.enable: \"true\"}\n",
			wantErr: "service web (" + deadAddr + "/nothing/app:live): image tag could not be resolved in the registry, and the engine has no image by that name",
		},
		{
			name:    "tag the registry does not have",
			compose: "services:\n  web:\n    image: " + regAddr + "/nothing/app:missing\n    labels: {forge.enable: \"true\"}\n",
			wantErr: "service web (" + regAddr + "/nothing/app:missing): image tag could not be resolved in the registry, and the engine has no image by that name",
		},
		{
			name:    "compose file does not load",
			compose: "services:\n  web:\n    image: [not, a, string\n",
			wantErr: "compose project could not be loaded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project := randomName("forge-e2e-fault-")
			e.cleanupProject(project)
			out, err := e.tryDocker("forge", "deploy", "-f", writeCompose(t, tt.compose), "-p", project)
			if err == nil {
				t.Fatalf("deploy succeeded:\n%s", out)
			}
			if !strings.Contains(out, tt.wantErr) {
				t.Fatalf("deploy error does not say %q:\n%s", tt.wantErr, out)
			}
			h := e.history(project)
			if len(h) != 1 || h[0].Status != forge.StatusFailed || h[0].Error != tt.wantErr {
				t.Fatalf("history = %+v, want one failed deploy with %q", h, tt.wantErr)
			}
			if ids := strings.TrimSpace(e.docker("ps", "-aq", "--filter", "label="+forge.ComposeProjectLabel+"="+project)); ids != "" {
				t.Fatalf("a failed deploy created containers: %s", ids)
			}
		})
	}
}

// TestDaemonStatusCodes drives a real daemon whose Docker engine is down:
// each kind of bad input gets its status, and a valid push is still taken.
func TestDaemonStatusCodes(t *testing.T) {
	e := newEnv(t, "")
	e.extraEnv = []string{"DOCKER_HOST=unix://" + t.TempDir() + "/no-docker.sock"}
	secret := randomName("e2e-secret-")
	d := e.startDaemon(secret, "--max-body", "4096")
	sign := func(body string) map[string]string {
		return map[string]string{"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(webhook.Sign([]byte(body), secret))}
	}
	push := `{"image":"127.0.0.1:5000/shop/web","tag":"v2"}`
	tests := []struct {
		name     string
		path     string
		body     string
		header   map[string]string
		want     int
		contains string
	}{
		// With the engine down a push is matched against the projects forge
		// deployed before (none here) and would wait in the queue.
		{"signed push, engine down", "/hooks/generic", push, sign(push), http.StatusOK, "no forge-enabled service uses"},
		{"wrong signature", "/hooks/generic", push, sign(push + " "), http.StatusUnauthorized, "signature"},
		{"missing signature", "/hooks/generic", push, nil, http.StatusUnauthorized, "missing"},
		{"malformed JSON", "/hooks/generic", `{"image":`, sign(`{"image":`), http.StatusBadRequest, "malformed"},
		{"oversized body", "/hooks/generic", strings.Repeat("x", 5000), nil, http.StatusRequestEntityTooLarge, "limit"},
		{"unknown provider", "/hooks/nosuch", push, sign(push), http.StatusNotFound, "unknown provider"},
		{"distribution without token", "/hooks/distribution", `{"events":[]}`, nil, http.StatusUnauthorized, "missing"},
		{"distribution pulls only", "/hooks/distribution", `{"events":[{"action":"pull","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"a","tag":"b"},"request":{"host":"r"}}]}`,
			map[string]string{"Authorization": "Bearer " + secret}, http.StatusOK, "ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := postJSON(t.Context(), "http://"+d.addr+tt.path, []byte(tt.body), tt.header)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.contains) {
				t.Fatalf("status %d body %s, want %d containing %q", resp.StatusCode, body, tt.want, tt.contains)
			}
			if tt.want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After")
			}
		})
	}
	if strings.Contains(d.Log(), secret) {
		t.Fatalf("daemon log contains the webhook secret")
	}
	// The CLI, through the daemon, says clearly that Docker is down.
	out, err := e.tryDocker("forge", "ls")
	if err == nil || !strings.Contains(strings.ToLower(out), "docker") {
		t.Fatalf("docker forge ls with the engine down: err=%v\n%s", err, out)
	}
}

// TestReplayRefusedAcrossRestart: a delivery seen once is refused as a
// duplicate by the next daemon too, since the window lives in the ledger.
func TestReplayRefusedAcrossRestart(t *testing.T) {
	e := newEnv(t, "")
	secret := randomName("e2e-secret-")
	body := `{"image":"127.0.0.1:5000/nobody/uses-this","tag":"v1","digest":"sha256:` + strings.Repeat("ab", 32) + `"}`
	header := map[string]string{
		"X-Forge-Signature-256": "sha256=" + hex.EncodeToString(webhook.Sign([]byte(body), secret)),
		"X-Forge-Delivery":      randomName("delivery-"),
	}
	send := func(d *daemon) (int, string) {
		resp, b, err := postJSON(t.Context(), "http://"+d.addr+"/hooks/generic", []byte(body), header)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	d := e.startDaemon(secret)
	if code, b := send(d); code != http.StatusOK || strings.Contains(b, "duplicate") || !strings.Contains(b, "no forge-enabled service uses") {
		t.Fatalf("first delivery: %d %s", code, b)
	}
	if code, b := send(d); code != http.StatusOK || !strings.Contains(b, `"ignored": "duplicate delivery"`) {
		t.Fatalf("replay: %d %s", code, b)
	}
	d.stop(t)
	d = e.startDaemon(secret)
	if code, b := send(d); code != http.StatusOK || !strings.Contains(b, `"ignored": "duplicate delivery"`) {
		t.Fatalf("replay after a restart: %d %s", code, b)
	}
}
