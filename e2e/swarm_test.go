package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// swarmStack is one test's single-node swarm (initialised by the test when
// the engine was in none, and left when it ends), a registry whose
// notifications go to the daemon's address, and a stack name.
type swarmStack struct {
	e                         *env
	addr, secret, registry    string
	stack, service, repo, ref string // service: the web service's swarm name, <stack>_web
}

func newSwarmStack(t *testing.T) *swarmStack {
	t.Helper()
	joinSwarm(t)
	s := &swarmStack{registry: fmt.Sprintf("127.0.0.1:%d", freePort(t)), secret: randomName("e2e-webhook-secret-")}
	s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.e = newEnv(t, s.registry)
	startRegistry(t, s.registry, "http://"+s.addr+"/hooks/distribution", s.secret)
	s.stack = randomName("forge-e2e-swarm-")
	s.service = s.stack + "_web"
	s.repo = s.registry + "/" + s.stack + "/app"
	s.ref = s.repo + ":live"
	t.Cleanup(func() {
		_, _ = s.e.tryDocker("stack", "rm", s.stack)
		// The stack's network goes once its tasks have stopped.
		for range 50 {
			if out, _ := s.e.tryDocker("network", "ls", "-q", "--filter", "label="+forge.StackNamespaceLabel+"="+s.stack); strings.TrimSpace(out) == "" {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	return s
}

// joinSwarm makes the engine a single-node swarm manager on 127.0.0.1 for
// the test, unless it is one already; a swarm the test made is left when
// the test ends, one it found is kept.
func joinSwarm(t *testing.T) {
	t.Helper()
	state := strings.TrimSpace(mustRun(t, "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"))
	switch state {
	case "active true":
		return
	case "inactive false":
	default:
		t.Skipf("the engine is in a swarm it does not manage (%s): not touching it", state)
	}
	// swarm init makes the docker_gwbridge network, which leaving keeps.
	_, bridged := exec.Command("docker", "network", "inspect", "docker_gwbridge").CombinedOutput()
	mustRun(t, "docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
	t.Cleanup(func() {
		mustRun(t, "docker", "swarm", "leave", "--force")
		if bridged != nil {
			mustRun(t, "docker", "network", "rm", "docker_gwbridge")
		}
	})
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// task is the running task container of the stack's web service.
type task struct {
	ID, Image, Version string
	Started, Finished  time.Time
}

// runningTask returns the one running container of the swarm service.
func (s *swarmStack) runningTask(t *testing.T) task {
	t.Helper()
	var ids []string
	for range 50 {
		ids = strings.Fields(s.e.docker("ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+s.service, "--filter", "status=running"))
		if len(ids) == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(ids) != 1 {
		t.Fatalf("want one running task container of %s, got %v", s.service, ids)
	}
	c := s.inspect(t, ids[0])
	c.Version = strings.TrimSpace(s.e.docker("exec", c.ID, "cat", "/www/version"))
	return c
}

func (s *swarmStack) inspect(t *testing.T, id string) task {
	t.Helper()
	f := strings.Fields(s.e.docker("inspect", "-f", "{{.Config.Image}} {{.State.StartedAt}} {{.State.FinishedAt}}", id))
	c := task{ID: id, Image: f[0]}
	c.Started, _ = time.Parse(time.RFC3339Nano, f[1])
	c.Finished, _ = time.Parse(time.RFC3339Nano, f[2])
	return c
}

// specImage is the image the swarm service's spec names.
func (s *swarmStack) specImage(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(s.e.docker("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", s.service))
}

// failingImage makes ref an image like from whose command exits 1.
func (s *swarmStack) failingImage(t *testing.T, from, ref string) {
	t.Helper()
	name := randomName("forge-e2e-failing-")
	s.e.docker("create", "--name", name, from)
	defer s.e.tryDocker("rm", "-f", name)
	id := strings.TrimSpace(s.e.docker("commit", "--change", `CMD ["/bin/sh","-c","exit 1"]`, name, ref))
	s.e.images = append(s.e.images, id)
}

// TestSwarmStack: a stack deployed from its stack file with docker forge
// deploy --swarm runs its services pinned by digest; a push through the
// registry's notification rolls the service to the new digest with the
// swarm's start-first order; a push of an image that exits at once is
// rolled back by the swarm's own failure_action and recorded as failed;
// rollback --to returns to the first digest; a service whose update the
// swarm pauses instead fails the health gate and follows forge.rollback.
// A stack file that does not load is refused and deploys nothing.
func TestSwarmStack(t *testing.T) {
	s := newSwarmStack(t)
	e := s.e
	// The daemon hears of the first images (and has nothing to deploy), so
	// the registry has no notification left to deliver late.
	d := e.startDaemon(s.secret, "--addr", s.addr, "--stats-schedule", "@every 1s")
	e.importImage(s.ref, "v1")
	d1 := e.push(s.ref)
	apiRef := s.repo + "-api:live"
	// api publishes a host-mode port (the ingress mesh does not work here);
	// web's start-first update could not, on one node.
	apiPort := freePort(t)
	apiSays := func(want string) {
		t.Helper()
		for i := 0; get(fmt.Sprintf("http://127.0.0.1:%d/version", apiPort)) != want; i++ {
			if i == 100 {
				t.Fatalf("api on its host port does not answer %q", want)
			}
			sleep()
		}
	}
	e.importImage(apiRef, "api1")
	a1 := e.push(apiRef)
	for _, repo := range []string{s.repo, s.repo + "-api"} {
		for i := 0; !strings.Contains(d.Log(), "repository="+repo+" tag=live"); i++ {
			if i == 100 {
				t.Fatalf("the daemon never heard of the push of %s:live:\n%s", repo, d.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	stackFile := filepath.Join(t.TempDir(), "stack.yaml")
	if err := os.WriteFile(stackFile, fmt.Appendf(nil, `version: "3.8"
services:
  web:
    image: %s
    init: true
    labels:
      forge.settle: 1s
    deploy:
      replicas: 1
      labels:
        forge.enable: "true"
      update_config:
        order: start-first
        failure_action: rollback
        monitor: 2s
        delay: 1s
      rollback_config:
        monitor: 1s
      restart_policy:
        condition: any
        delay: 1s
  api:
    image: %s
    init: true
    ports:
      - target: 8080
        published: %d
        mode: host
    labels:
      forge.settle: 1s
    deploy:
      labels:
        forge.enable: "true"
        forge.rollback: auto
      update_config:
        failure_action: pause
        monitor: 2s
      restart_policy:
        condition: any
        delay: 1s
`, s.ref, apiRef, apiPort), 0o644); err != nil {
		t.Fatal(err)
	}

	// Bad input first: a stack file that does not load deploys nothing.
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("services:\n  web:\n    image: "+s.ref+"\n    deploy:\n      replcas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badStack := s.stack + "-bad"
	out, err := e.tryDocker("forge", "deploy", "-f", broken, "-p", badStack, "--swarm")
	if err == nil || !strings.Contains(out, "replcas") {
		t.Fatalf("deploy of a broken stack file: %v\n%s\nwant a non-zero exit that names the bad option", err, out)
	}
	if svcs := strings.TrimSpace(e.docker("service", "ls", "-q", "--filter", "label="+forge.StackNamespaceLabel+"="+badStack)); svcs != "" {
		t.Fatalf("a broken stack file deployed services: %s", svcs)
	}

	// The first deploy, through the running daemon.
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", stackFile, "-p", s.stack, "--swarm")
	if sd, _ := first.Service("web"); first.Status != forge.StatusSucceeded || sd.Digest != d1 || sd.Pinned != s.repo+"@"+d1 {
		t.Fatalf("first deploy = %+v, want web running %s", first, d1)
	}
	if img := s.specImage(t); img != s.ref+"@"+d1 {
		t.Fatalf("the service's image is %q, want %s@%s", img, s.ref, d1)
	}
	v1 := s.runningTask(t)
	if v1.Version != "v1" {
		t.Fatalf("the task serves %q, want v1", v1.Version)
	}
	apiSays("api1")
	if _, err := e.tryDocker("forge", "history", s.stack); err != nil {
		t.Fatalf("docker forge history %s: %v", s.stack, err)
	}

	// v2 is pushed: the registry's notification moves the service to it.
	e.importImage(s.ref, "v2")
	d2 := e.push(s.ref)
	pushed := e.waitFor(s.stack, func(h []forge.Deploy) bool {
		sd, _ := h[0].Service("web")
		return h[0].Reason == forge.ReasonPush && sd.Pinned == s.repo+"@"+d2
	})[0]
	if sd, _ := pushed.Service("web"); pushed.Status != forge.StatusSucceeded || sd.Digest != d2 || sd.Previous != d1 || !sd.Changed {
		t.Fatalf("push deploy = %+v, want web moved from %s to %s", pushed, d1, d2)
	}
	v2 := s.runningTask(t)
	if v2.Image != s.ref+"@"+d2 || v2.Version != "v2" || s.specImage(t) != s.ref+"@"+d2 {
		t.Fatalf("after the push the task runs %+v (spec %s), want %s@%s serving v2", v2, s.specImage(t), s.ref, d2)
	}
	// start-first: the v1 task stopped only after the v2 task had started.
	old := s.inspect(t, v1.ID)
	if old.Finished.IsZero() || !v2.Started.Before(old.Finished) {
		t.Errorf("the v2 task started %s, the v1 task stopped %s: want start-first", v2.Started, old.Finished)
	} else {
		t.Logf("the v2 task started %s before the v1 task stopped", old.Finished.Sub(v2.Started).Round(time.Millisecond))
	}

	// A push of an image that exits at once: the swarm rolls it back.
	s.failingImage(t, s.ref, s.ref)
	d3 := e.push(s.ref)
	failed := e.waitFor(s.stack, func(h []forge.Deploy) bool {
		sd, _ := h[0].Service("web")
		return h[0].Reason == forge.ReasonPush && sd.Pinned == s.repo+"@"+d3
	})[0]
	if failed.Status != forge.StatusFailed || failed.Error != "the swarm rolled the update back" {
		t.Fatalf("the failing push's deploy = %+v, want failed: the swarm rolled the update back", failed)
	}
	if sd, _ := failed.Service("web"); sd.Digest != d2 {
		t.Fatalf("the failed deploy recorded web on %q, want %s (what the swarm rolled back to)", sd.Digest, d2)
	}
	if img, now := s.specImage(t), s.runningTask(t); img != s.ref+"@"+d2 || now.Version != "v2" {
		t.Fatalf("after the swarm's rollback the spec is %s and the task %+v, want %s@%s serving v2", img, now, s.ref, d2)
	}

	// rollback --to the first deploy: back to v1, through the daemon.
	var back forge.Deploy
	e.forgeJSON(&back, "rollback", s.stack, "--to", fmt.Sprint(first.ID))
	if sd, _ := back.Service("web"); back.Status != forge.StatusSucceeded || sd.Digest != d1 || back.RollbackOf != first.ID {
		t.Fatalf("rollback = %+v, want web back on %s", back, d1)
	}
	if img, now := s.specImage(t), s.runningTask(t); img != s.ref+"@"+d1 || now.Version != "v1" || now.Image != s.ref+"@"+d1 {
		t.Fatalf("after the rollback the spec is %s and the task %+v, want %s@%s serving v1", img, now, s.ref, d1)
	}

	// The collector samples the stack's tasks, by service.
	for i := 0; ; i++ {
		var series []forge.StatSeries
		e.forgeJSON(&series, "stats", s.stack, "--service", "web")
		if len(series) > 0 && series[0].Service == "web" && len(series[0].Points) > 0 {
			break
		}
		if i == 100 {
			t.Fatalf("no stats of the stack's web service: %+v", series)
		}
		sleep()
	}

	// api's update_config pauses on failure instead: its tasks that do not
	// start fail the health gate, and forge.rollback=auto returns it.
	s.failingImage(t, apiRef, apiRef)
	a2 := e.push(apiRef)
	h := e.waitFor(s.stack, func(h []forge.Deploy) bool {
		return h[0].Reason == forge.ReasonRollback && len(h) > 1 && h[1].Reason == forge.ReasonPush && h[1].Status == forge.StatusFailed
	})
	rb, paused := h[0], h[1]
	if sd, _ := paused.Service("api"); sd.Pinned != s.repo+"-api@"+a2 || !strings.HasPrefix(paused.Error, "health gate failed: api ") || paused.RevertedBy != rb.ID {
		t.Fatalf("the paused update's deploy = %+v, want api pinned to %s, failed by the health gate and rolled back", paused, a2)
	}
	if sd, _ := rb.Service("api"); rb.Status != forge.StatusSucceeded || sd.Digest != a1 {
		t.Fatalf("forge's rollback = %+v, want api back on %s", rb, a1)
	}
	if img := strings.TrimSpace(e.docker("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", s.stack+"_api")); img != apiRef+"@"+a1 {
		t.Fatalf("api's image after forge's rollback is %s, want %s@%s", img, apiRef, a1)
	}
	apiSays("api1")
	// A deploy by hand from the stack file applies it, as docker stack
	// deploy does: an edit of the file reaches the service, its image
	// pinned to its tag's digest (good images again, first).
	e.importImage(s.ref, "v4")
	d4 := e.push(s.ref)
	e.waitFor(s.stack, func(h []forge.Deploy) bool { sd, _ := h[0].Service("web"); return sd.Digest == d4 })
	e.importImage(apiRef, "api3")
	a3 := e.push(apiRef)
	e.waitFor(s.stack, func(h []forge.Deploy) bool { sd, _ := h[0].Service("api"); return sd.Digest == a3 })
	apiSays("api3")
	edited, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	edited = []byte(strings.Replace(string(edited), "    init: true\n", "    init: true\n    environment:\n      COLOR: blue\n", 1))
	if err := os.WriteFile(stackFile, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	var again forge.Deploy
	e.forgeJSON(&again, "deploy", "-f", stackFile, "-p", s.stack, "--swarm")
	if again.Status != forge.StatusSucceeded {
		t.Fatalf("deploy of the edited stack file = %+v", again)
	}
	env := e.docker("service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", s.service)
	if !strings.Contains(env, "COLOR=blue") || s.specImage(t) != s.ref+"@"+d4 {
		t.Fatalf("after a deploy of the edited file the service has env %s and image %s, want COLOR=blue and %s@%s", env, s.specImage(t), s.ref, d4)
	}
	t.Logf("history:\n%s", e.docker("forge", "history", "-v", s.stack))
	if strings.Contains(d.Log(), registryPassword) {
		t.Error("the daemon logged the registry password")
	}
}
