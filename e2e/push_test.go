package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestRegistryPushRedeploysOnlyTheMatchedService is the core loop end to end:
// a push to a real registry travels through its notification webhook into a
// pinned redeploy of exactly the service that uses the image, recorded in the
// ledger, and rolled back with one command. A rollback whose pull fails
// leaves the running container alone and records a failure with no secret.
func TestRegistryPushRedeploysOnlyTheMatchedService(t *testing.T) {
	st := newPushStack(t, "push", true)
	e, d, regAddr, secret := st.e, st.d, st.regAddr, st.secret
	project, repo, ref := st.project, st.repo, st.ref

	e.importImage(ref, "v1")
	d1 := e.push(ref)

	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %[1]s
    init: true
    labels:
      forge.enable: "true"
  side:
    image: %[1]s
    init: true
`, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if first.Status != forge.StatusSucceeded || first.Reason != forge.ReasonManual {
		t.Fatalf("first deploy = %+v, want a succeeded manual deploy", first)
	}
	if s, _ := first.Service("web"); s.Digest != d1 || s.Pinned != repo+"@"+d1 {
		t.Fatalf("first deploy of web = %+v, want digest %s pinned", s, d1)
	}
	web1 := e.container(project, "web")
	side := e.container(project, "side")
	if web1.Image != repo+"@"+d1 || web1.Version != "v1" {
		t.Fatalf("web after first deploy = %+v, want %s@%s serving v1", web1, repo, d1)
	}

	// v2 is pushed: the registry notifies the daemon, which redeploys web.
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	if d2 == d1 {
		t.Fatal("v1 and v2 have the same digest")
	}
	pushed := e.waitFor(project, func(h []forge.Deploy) bool {
		s, _ := h[0].Service("web")
		return h[0].Reason == forge.ReasonPush && s.Digest == d2
	})[0]
	if pushed.Status != forge.StatusSucceeded || pushed.Trigger.Provider != "distribution" || pushed.Trigger.Delivery == "" {
		t.Fatalf("push deploy = %+v, want succeeded, triggered by a distribution delivery", pushed)
	}
	if s, _ := pushed.Service("web"); s.Previous != d1 || !s.Changed {
		t.Fatalf("push deploy of web = %+v, want previous %s and recreated", s, d1)
	}
	// Where the deploy's time went, each phase recorded apart: the image
	// was pushed from this engine, so the pull is a check and the recreate
	// takes longer; the phases add up to no more than the deploy took.
	ph := pushed.Phases
	if ph.Resolve <= 0 || ph.Pull <= 0 || ph.Recreate <= ph.Pull || ph.Verify <= 0 || ph.Health <= 0 {
		t.Errorf("push deploy phases = %+v, want resolve, pull, recreate (the longest of the engine's two), verify and health each timed", ph)
	}
	if sum, took := ph.Resolve+ph.Pull+ph.Recreate+ph.Verify+ph.Health, pushed.Finished.Sub(pushed.Started); sum > took {
		t.Errorf("the phases add up to %s, more than the deploy's %s", sum, took)
	}
	if verbose := e.docker("forge", "history", "-v", project); !strings.Contains(verbose, "recreate ") || !strings.Contains(verbose, "pull ") {
		t.Errorf("history -v does not say where the deploy's time went:\n%s", verbose)
	}
	if _, ok := pushed.Service("side"); ok {
		t.Fatalf("push deploy touched side, which is not forge-enabled: %+v", pushed.Services)
	}
	web2 := e.container(project, "web")
	if web2.Image != repo+"@"+d2 || web2.Version != "v2" || web2.State != "running" {
		t.Fatalf("web after push = %+v, want %s@%s serving v2", web2, repo, d2)
	}
	if now := e.container(project, "side"); now.ID != side.ID || now.Version != "v1" {
		t.Fatalf("side was recreated or changed by the push: before %+v, after %+v", side, now)
	}

	var ls []struct {
		Name     string `json:"name"`
		Services []struct {
			Name, Digest, State string
			Enabled             bool `json:"forge_enabled"`
		} `json:"services"`
	}
	e.forgeJSON(&ls, "ls")
	found := false
	for _, p := range ls {
		if p.Name != project {
			continue
		}
		for _, s := range p.Services {
			switch s.Name {
			case "web":
				found = s.Enabled && s.Digest == d2
			case "side":
				if s.Enabled || s.Digest != d1 {
					t.Errorf("ls shows side as %+v, want on %s and not following pushes", s, d1)
				}
			}
		}
	}
	if !found {
		t.Fatalf("docker forge ls does not show %s/web on %s, following pushes: %+v", project, d2, ls)
	}

	// One command back to v1.
	var rb forge.Deploy
	e.forgeJSON(&rb, "rollback", project)
	if rb.Status != forge.StatusSucceeded || rb.Reason != forge.ReasonRollback || rb.RollbackOf != first.ID {
		t.Fatalf("rollback = %+v, want a succeeded rollback to deploy %d", rb, first.ID)
	}
	web3 := e.container(project, "web")
	if web3.Image != repo+"@"+d1 || web3.Version != "v1" {
		t.Fatalf("web after rollback = %+v, want %s@%s serving v1", web3, repo, d1)
	}
	if now := e.container(project, "side"); now.ID != side.ID {
		t.Fatalf("rollback recreated side")
	}

	// v2 disappears from the registry and the engine: rolling forward to it
	// must fail in the pull and leave the v1 container running.
	v2ID := strings.TrimSpace(e.docker("inspect", "-f", "{{.Id}}", repo+"@"+d2))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, "http://"+regAddr+"/v2/"+project+"/app/manifests/"+d2, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete v2 manifest from the registry: %v %v", err, resp)
	}
	resp.Body.Close()
	e.docker("rmi", "-f", v2ID)
	out, err := e.tryDocker("forge", "rollback", project, "--to", fmt.Sprint(pushed.ID))
	if err == nil {
		t.Fatalf("rollback to a digest that can no longer be pulled succeeded:\n%s", out)
	}
	if !strings.Contains(out, "compose up failed") {
		t.Fatalf("failed rollback output does not give the reason:\n%s", out)
	}
	failed := e.history(project)[0]
	if failed.Status != forge.StatusFailed || failed.Error != "compose up failed; see the daemon log" {
		t.Fatalf("failed rollback recorded as %+v", failed)
	}
	if now := e.container(project, "web"); now.ID != web3.ID || now.State != "running" || now.Version != "v1" {
		t.Fatalf("failed pull touched the running web container: before %+v, after %+v", web3, now)
	}
	if !strings.Contains(d.Log(), "deploy failure detail") {
		t.Fatalf("daemon log lacks the failure detail at debug:\n%s", d.Log())
	}

	// No secret in the ledger, the API's answers or the daemon's log.
	ledgerBytes, err := os.ReadFile(filepath.Join(e.dataDir, "forge.db"))
	if err != nil {
		t.Fatal(err)
	}
	histJSON, _ := e.tryDocker("forge", "history", project, "--json")
	auth := base64.StdEncoding.EncodeToString([]byte("forge-e2e:" + registryPassword))
	for _, where := range []struct{ name, text string }{
		{"ledger file", string(ledgerBytes)},
		{"history", histJSON},
		{"daemon log", d.Log()},
	} {
		for _, secretText := range []string{registryPassword, auth, secret} {
			if strings.Contains(where.text, secretText) {
				t.Errorf("%s contains the secret %q", where.name, secretText)
			}
		}
	}
}

// waitFor polls the project's history until ok holds for it.
func (e *env) waitFor(project string, ok func([]forge.Deploy) bool) []forge.Deploy {
	e.t.Helper()
	return e.waitOn("", project, ok)
}

// TestPollingFindsAPushWhoseNotificationWasLost: the registry's notifications
// go nowhere; a service labelled forge.poll is moved to the pushed digest by
// the daemon's registry check alone.
func TestPollingFindsAPushWhoseNotificationWasLost(t *testing.T) {
	st := newPushStack(t, "poll", false, "--poll-refresh", "@every 1s")
	e, d, project, repo, ref := st.e, st.d, st.project, st.repo, st.ref
	e.importImage(ref, "v1")
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.poll: "@every 1s"
`, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if s, _ := first.Service("web"); first.Status != forge.StatusSucceeded || s.Digest != d1 {
		t.Fatalf("first deploy = %+v", first)
	}
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	polled := e.waitFor(project, func(h []forge.Deploy) bool {
		s, _ := h[0].Service("web")
		return s.Digest == d2
	})[0]
	if polled.Status != forge.StatusSucceeded || polled.Trigger.Provider != forge.ProviderPoll || polled.Reason != forge.ReasonPush {
		t.Fatalf("polled deploy = %+v, want a succeeded push deploy found by polling", polled)
	}
	if web := e.container(project, "web"); web.Version != "v2" || web.Image != repo+"@"+d2 {
		t.Fatalf("web after the poll = %+v", web)
	}
	if !strings.Contains(d.Log(), "poll: tag moved") {
		t.Fatalf("the daemon log does not say the poll found the push:\n%s", d.Log())
	}
}
