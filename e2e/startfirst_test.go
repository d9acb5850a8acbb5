package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// containerEvent is one start or die of a project's container.
type containerEvent struct {
	action, id, service, image string
	at                         time.Time
}

// eventLog records the start and die events of a project's containers.
type eventLog struct {
	mu     sync.Mutex
	events []containerEvent
}

func (l *eventLog) all() []containerEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]containerEvent(nil), l.events...)
}

// first is when the first event of action for service among ids (any id
// when ids is empty) happened; zero when none did.
func (l *eventLog) first(action, service string, match func(id string) bool) time.Time {
	for _, ev := range l.all() {
		if ev.action == action && ev.service == service && match(ev.id) {
			return ev.at
		}
	}
	return time.Time{}
}

// watchEvents records the engine's start and die events of project's
// containers until the test ends.
func watchEvents(tb testing.TB, project string) *eventLog {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	res := dockerCLI(tb).Client().Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("event", "start", "die").Add("label", "com.docker.compose.project="+project)})
	l := &eventLog{}
	ready := make(chan struct{})
	go func() {
		close(ready)
		for {
			select {
			case m := <-res.Messages:
				l.mu.Lock()
				l.events = append(l.events, containerEvent{action: string(m.Action), id: m.Actor.ID, image: m.Actor.Attributes["image"],
					service: m.Actor.Attributes["com.docker.compose.service"], at: time.Unix(0, m.TimeNano)})
				l.mu.Unlock()
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	<-ready
	time.Sleep(100 * time.Millisecond) // the stream is open before anything happens
	return l
}

// TestStartFirstUpdateOrder: a service whose compose file asks for
// deploy.update_config.order start-first, as Swarm reads it, gets its new
// container running before the old one stops; one that asks but publishes
// a fixed host port is recreated stop-first, as compose does, and the deploy
// says why.
func TestStartFirstUpdateOrder(t *testing.T) {
	st := newPushStack(t, "start-first", true)
	e, project, ref := st.e, st.project, st.ref
	e.importImage(ref, "v1")
	e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %[1]s
    init: true
    labels: {forge.enable: "true", forge.settle: "300ms"}
    deploy: {update_config: {order: start-first}}
  fixed:
    image: %[1]s
    init: true
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:%[2]d:80"]
    labels: {forge.enable: "true", forge.settle: "300ms"}
    deploy: {update_config: {order: start-first}}
`, ref, freePort(t)))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v", first)
	}
	oldWeb, oldFixed := e.container(project, "web"), e.container(project, "fixed")
	events := watchEvents(t, project)

	e.importImage(ref, "v2")
	d2 := e.push(ref)
	pushed := e.waitFor(project, func(h []forge.Deploy) bool {
		return h[0].Reason == forge.ReasonPush && h[0].Status.Final()
	})[0]
	if pushed.Status != forge.StatusSucceeded {
		t.Fatalf("push deploy = %+v", pushed)
	}
	for _, svc := range []string{"web", "fixed"} {
		if s, _ := pushed.Service(svc); s.Digest != d2 || !s.Changed {
			t.Errorf("push deploy of %s = %+v, want it recreated on %s", svc, s, d2)
		}
		if c := e.container(project, svc); c.Version != "v2" || c.State != "running" {
			t.Errorf("%s after the push = %+v, want one container running v2", svc, c)
		}
	}
	if ids := strings.Fields(e.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+project, "--filter", "label=com.docker.compose.service=web")); len(ids) != 1 {
		t.Errorf("web has %d containers after the deploy, want 1: %v", len(ids), ids)
	}

	isOld := func(old string) func(string) bool {
		return func(id string) bool { return strings.HasPrefix(id, old) || strings.HasPrefix(old, id) }
	}
	isNew := func(old string) func(string) bool { return func(id string) bool { return !isOld(old)(id) } }
	webStarted, webDied := events.first("start", "web", isNew(oldWeb.ID)), events.first("die", "web", isOld(oldWeb.ID))
	if webStarted.IsZero() || webDied.IsZero() || !webStarted.Before(webDied) {
		t.Errorf("web (start-first): new container started %v, old died %v; want the start first\nevents: %+v", webStarted, webDied, events.all())
	} else {
		t.Logf("web: the new container started %s before the old one stopped", webDied.Sub(webStarted).Round(time.Millisecond))
	}
	fixedStarted, fixedDied := events.first("start", "fixed", isNew(oldFixed.ID)), events.first("die", "fixed", isOld(oldFixed.ID))
	if fixedStarted.IsZero() || fixedDied.IsZero() || !fixedDied.Before(fixedStarted) {
		t.Errorf("fixed (a fixed host port): old died %v, new started %v; want the old stopped first", fixedDied, fixedStarted)
	}
	if w := strings.Join(pushed.Warnings, "; "); !strings.Contains(w, "service fixed") || !strings.Contains(w, "fixed host port") || strings.Contains(w, "service web") {
		t.Errorf("deploy warnings = %q, want one saying why fixed was stopped first, none for web", w)
	}
}

// TestStartFirstKeepsTheOldContainerWhenTheNewFails: a start-first
// service whose new image never turns healthy keeps its old container
// running, untouched, and no second replica is left behind; the deploy
// fails.
func TestStartFirstKeepsTheOldContainerWhenTheNewFails(t *testing.T) {
	st := newPushStack(t, "start-first-fails", true)
	e, project, ref := st.e, st.project, st.ref
	e.importImageFiles(ref, "v1", map[string]string{"healthy": "yes\n"})
	e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels: {forge.enable: "true", forge.rollback: "manual", forge.health-timeout: "6s"}
    deploy: {update_config: {order: start-first}}
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
	old := e.container(project, "web")

	e.importImage(ref, "v2") // no /www/healthy: never healthy
	e.push(ref)
	failed := e.waitFor(project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonPush })[0]
	if failed.Status != forge.StatusFailed {
		t.Fatalf("push deploy of an image that never turns healthy = %+v, want failed", failed)
	}
	if now := e.container(project, "web"); now.ID != old.ID || now.State != "running" || now.Version != "v1" {
		t.Errorf("web after the failed start-first deploy = %+v, want the old container %s still running v1", now, old.ID[:12])
	}
	if ids := strings.Fields(e.docker("ps", "-aq", "--filter", "label=com.docker.compose.project="+project)); len(ids) != 1 {
		t.Errorf("%d containers left after the failed start-first deploy, want the old one alone: %v", len(ids), ids)
	}
}
