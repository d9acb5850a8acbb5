package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestUnhealthyPushIsRolledBack: v2 fails its healthcheck, so the push's
// deploy fails its health gate and is rolled back at once: the service ends
// on v1, serving and healthy, with both entries in the history, linked.
func TestUnhealthyPushIsRolledBack(t *testing.T) {
	st := newPushStack(t, "health", true)
	e, project, repo, ref := st.e, st.project, st.repo, st.ref
	e.importImageFiles(ref, "v1", map[string]string{"healthy": "yes\n"})
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.health-timeout: 30s
    healthcheck:
      test: ["CMD", "/bin/sh", "-c", "test -f /www/healthy"]
      interval: 1s
      timeout: 1s
      retries: 2
`, ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v", first)
	}

	e.importImage(ref, "v2") // no /www/healthy: its healthcheck fails
	d2 := e.push(ref)
	h := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonRollback })
	rb, failed := h[0], h[1]
	if failed.Status != forge.StatusFailed || !strings.Contains(failed.Error, "health gate failed: web is unhealthy") || failed.RevertedBy != rb.ID {
		t.Fatalf("the push's deploy = %+v, want failed by the health gate and linked to its rollback", failed)
	}
	if s, _ := failed.Service("web"); s.Digest != d2 {
		t.Fatalf("the failed deploy recorded web on %s, want %s (what ran after it)", s.Digest, d2)
	}
	if s, _ := rb.Service("web"); rb.Status != forge.StatusSucceeded || rb.Reverts != failed.ID || s.Digest != d1 {
		t.Fatalf("rollback = %+v, want a succeeded rollback of %d to %s", rb, failed.ID, d1)
	}
	web := e.container(project, "web")
	if web.Image != repo+"@"+d1 || web.Version != "v1" || web.State != "running" {
		t.Fatalf("web after the rollback = %+v, want v1 serving", web)
	}
	if st := strings.TrimSpace(e.docker("inspect", "-f", "{{.State.Health.Status}}", web.ID)); st != "healthy" {
		t.Fatalf("web after the rollback is %q, want healthy", st)
	}
}
