package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-forge/docker-forge"
)

// realDockerSock is the engine every test shares; the outage test never
// stops it, it cuts the daemon off from it with an engineProxy.
const realDockerSock = "/var/run/docker.sock"

// engineProxy is a unix socket in front of the real engine that can be
// switched down and up, so one daemon sees the engine stop and start again
// while the engine itself (shared by the other tests) keeps running. While
// up, each connection is forwarded to the engine; while down, new
// connections are closed at once and the forwarded ones are cut, so the
// daemon's event stream breaks as with a real engine restart.
type engineProxy struct {
	path string
	ln   net.Listener

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startEngineProxy(t *testing.T) *engineProxy {
	t.Helper()
	p := &engineProxy{path: filepath.Join(t.TempDir(), "engine.sock"), up: true, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = p.ln.Close()
		p.set(false)
		done := make(chan struct{})
		go func() { p.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("engine proxy: connections still open 10s after close")
		}
	})
	return p
}

func (p *engineProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			_ = c.Close()
			continue
		}
		e, err := net.DialTimeout("unix", realDockerSock, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		if !p.up { // went down while dialling
			p.mu.Unlock()
			_ = c.Close()
			_ = e.Close()
			continue
		}
		p.conns[c], p.conns[e] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(c, e) })
	}
}

// pipe copies both ways until either side ends, then closes both.
func (p *engineProxy) pipe(c, e net.Conn) {
	var once sync.Once
	end := func() {
		once.Do(func() {
			_ = c.Close()
			_ = e.Close()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, e)
			p.mu.Unlock()
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(e, c); end() })
	wg.Go(func() { _, _ = io.Copy(c, e); end() })
	wg.Wait()
}

// set switches the proxy up or down; down also cuts every open connection.
func (p *engineProxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if up {
		return
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// webhookCount reads forge_webhook_requests_total for a provider and an
// HTTP status from the daemon's /metrics.
func webhookCount(t *testing.T, d *daemon, provider, status string) int {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`forge_webhook_requests_total{provider=%q,status=%q} `, provider, status)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", sc.Text(), err)
			}
			return int(n)
		}
	}
	return 0
}

// watchRetryDue finds the engine watch's last "resubscribing" log line and
// returns when that retry was due; ok is false when there is none.
func watchRetryDue(t *testing.T, log string) (time.Time, bool) {
	t.Helper()
	var line string
	for l := range strings.Lines(log) {
		if strings.Contains(l, `msg="container event stream ended; resubscribing"`) {
			line = l
		}
	}
	if line == "" {
		return time.Time{}, false
	}
	var at time.Time
	var in time.Duration
	for _, f := range strings.Fields(line) {
		var err error
		switch {
		case strings.HasPrefix(f, "time="):
			at, err = time.Parse(time.RFC3339Nano, strings.TrimPrefix(f, "time="))
		case strings.HasPrefix(f, "in="):
			in, err = time.ParseDuration(strings.Trim(strings.TrimPrefix(f, "in="), `"`))
		}
		if err != nil {
			t.Fatalf("daemon log line %q: %v", line, err)
		}
	}
	if at.IsZero() || in == 0 {
		t.Fatalf("daemon log line %q: no time or retry delay", line)
	}
	return at.Add(in), true
}

// describeHistory is a history one line per deploy, for failure messages.
func describeHistory(h []forge.Deploy) string {
	var b strings.Builder
	for _, d := range h {
		fmt.Fprintf(&b, "\n  #%d %s %s %q:", d.ID, d.Reason, d.Status, d.Error)
		for _, s := range d.Services {
			fmt.Fprintf(&b, " %s(requested=%s digest=%s changed=%v)", s.Service, short12(s.Requested), short12(s.Digest), s.Changed)
		}
	}
	return b.String()
}

func short12(digest string) string {
	digest = strings.TrimPrefix(digest, "sha256:")
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// TestEngineOutageWhilePushesArrive: the daemon loses its Docker engine (the
// real one stays up; a proxy cuts the daemon off, event stream included),
// three pushes for two services arrive and are accepted and queued, nothing
// changes on the engine, and once the engine is back they are deployed:
// coalesced per service (web's newest push wins), with no deploy left
// unfinished and none failed.
func TestEngineOutageWhilePushesArrive(t *testing.T) {
	started := time.Now()
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := newEnv(t, regAddr)
	proxy := startEngineProxy(t)
	secret := randomName("e2e-webhook-secret-")
	// Only the daemon goes through the proxy; the test's own docker calls
	// (import, push, inspect) use the real engine.
	e.extraEnv = []string{"DOCKER_HOST=unix://" + proxy.path}
	d := e.startDaemon(secret)
	e.extraEnv = nil
	startRegistry(t, regAddr, "http://"+d.addr+"/hooks/distribution", secret)

	project := randomName("forge-e2e-outage-")
	webRepo := regAddr + "/" + project + "/web"
	apiRepo := regAddr + "/" + project + "/api"
	webRef, apiRef := webRepo+":live", apiRepo+":live"
	e.cleanupProject(project)

	e.importImage(webRef, "web-v1")
	web1 := e.push(webRef)
	e.importImage(apiRef, "api-v1")
	api1 := e.push(apiRef)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
  api:
    image: %s
    init: true
    labels:
      forge.enable: "true"
`, webRef, apiRef))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v, want succeeded", first)
	}
	if s, _ := first.Service("web"); s.Digest != web1 {
		t.Fatalf("first deploy of web = %+v, want %s", s, web1)
	}
	if s, _ := first.Service("api"); s.Digest != api1 {
		t.Fatalf("first deploy of api = %+v, want %s", s, api1)
	}
	webBefore, apiBefore := e.container(project, "web"), e.container(project, "api")
	if webBefore.Version != "web-v1" || apiBefore.Version != "api-v1" {
		t.Fatalf("after the first deploy: web %+v, api %+v", webBefore, apiBefore)
	}
	accepted0 := webhookCount(t, d, "distribution", "202")

	// The engine goes away for the daemon.
	proxy.set(false)
	downAt := time.Now()

	// waitQueued waits until a deploy that is not final yet asks for
	// service at digest: the push was accepted and waits in the ledger.
	waitQueued := func(service, digest string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		var h []forge.Deploy
		for time.Now().Before(deadline) {
			h = e.history(project)
			for _, dep := range h {
				if s, ok := dep.Service(service); ok && !dep.Status.Final() && s.Requested == digest {
					return
				}
				if dep.ID > first.ID && dep.Status.Final() && dep.Status != forge.StatusInterrupted {
					t.Fatalf("deploy %d ended %s while the engine is down (it must wait in the queue):%s",
						dep.ID, dep.Status, describeHistory(h))
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("the push of %s at %s was not queued within 20s with the engine down:%s", service, short12(digest), describeHistory(h))
	}

	e.importImage(webRef, "web-v2")
	web2 := e.push(webRef)
	waitQueued("web", web2)
	e.importImage(webRef, "web-v3")
	web3 := e.push(webRef)
	waitQueued("web", web3)
	e.importImage(apiRef, "api-v2")
	api2 := e.push(apiRef)
	waitQueued("api", api2)
	if web2 == web1 || web3 == web2 || api2 == api1 {
		t.Fatalf("pushes share digests: web %s %s %s, api %s %s", web1, web2, web3, api1, api2)
	}
	if n := webhookCount(t, d, "distribution", "202") - accepted0; n < 3 {
		t.Fatalf("%d registry notifications answered 202 during the outage, want at least 3", n)
	}
	if n := webhookCount(t, d, "distribution", "503"); n != 0 {
		t.Fatalf("%d registry notifications answered 503 during the outage", n)
	}

	// `docker forge ls` and `history` work with the engine down and show
	// the queued deploy.
	var ls []struct {
		Name       string        `json:"name"`
		LastDeploy *forge.Deploy `json:"last_deploy"`
		Error      string        `json:"error"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.forgeJSON(&ls, "ls")
		var last *forge.Deploy
		lsErr := ""
		for _, p := range ls {
			if p.Name == project {
				last, lsErr = p.LastDeploy, p.Error
			}
		}
		if last != nil && last.Status == forge.StatusQueued {
			if !strings.Contains(lsErr, "unreachable") {
				t.Errorf("docker forge ls with the engine down: project error %q, want it to say the engine is unreachable", lsErr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker forge ls never showed %s's last deploy as queued with the engine down: %+v", project, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var queuedIDs []uint64
	for _, dep := range e.history(project) {
		if dep.Status == forge.StatusQueued || dep.Status == forge.StatusRunning {
			queuedIDs = append(queuedIDs, dep.ID)
		}
	}
	if len(queuedIDs) == 0 {
		t.Fatalf("docker forge history shows no queued deploy with the engine down")
	}

	// A few more seconds of outage: the retries must not touch anything.
	time.Sleep(3 * time.Second)
	if webNow, apiNow := e.container(project, "web"), e.container(project, "api"); webNow != webBefore || apiNow != apiBefore {
		t.Fatalf("containers changed while the engine was down: web %+v -> %+v, api %+v -> %+v", webBefore, webNow, apiBefore, apiNow)
	}
	h := e.history(project)
	for _, dep := range h {
		if dep.ID > first.ID && (dep.Status == forge.StatusSucceeded || dep.Status == forge.StatusFailed) {
			t.Fatalf("deploy %d ended %s while the engine was down:%s", dep.ID, dep.Status, describeHistory(h))
		}
	}
	if !strings.Contains(d.Log(), "docker engine unreachable; deploy stays queued") {
		t.Fatalf("the daemon never retried a queued deploy during the outage (see the daemon log below)")
	}
	outage := time.Since(downAt)

	// The engine is back: the queued pushes deploy.
	proxy.set(true)
	upAt := time.Now()
	deadline = upAt.Add(60 * time.Second)
	for {
		h = e.history(project)
		settled := len(h) > 0 && h[0].ID > first.ID
		for _, dep := range h {
			settled = settled && dep.Status.Final()
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after the engine came back, deploys are still not final:%s", describeHistory(h))
		}
		time.Sleep(250 * time.Millisecond)
	}
	recovered := time.Since(upAt)
	t.Logf("outage %s, deployed %s after the engine came back; history:%s", outage.Round(100*time.Millisecond), recovered.Round(100*time.Millisecond), describeHistory(h))

	var pushDeploys []forge.Deploy
	for _, dep := range h {
		if dep.Status == forge.StatusFailed {
			t.Errorf("deploy %d failed (%s): an outage must make pushes wait, not fail", dep.ID, dep.Error)
		}
		if s, ok := dep.Service("web"); ok && dep.Status == forge.StatusSucceeded && s.Digest == web2 {
			t.Errorf("deploy %d deployed web at v2 (%s): the newer push v3 must win", dep.ID, short12(web2))
		}
		if dep.ID > first.ID && dep.Status == forge.StatusSucceeded {
			pushDeploys = append(pushDeploys, dep)
		}
		if dep.ID > first.ID && dep.Reason != forge.ReasonPush {
			t.Errorf("deploy %d has reason %s, want push", dep.ID, dep.Reason)
		}
	}
	if len(pushDeploys) != 1 {
		t.Fatalf("want the queued pushes coalesced into one succeeded deploy, got %d:%s", len(pushDeploys), describeHistory(h))
	}
	final := pushDeploys[0]
	if final.ID != h[0].ID {
		t.Errorf("the succeeded deploy %d is not the newest (%d): an older queued deploy ended after it:%s", final.ID, h[0].ID, describeHistory(h))
	}
	for _, want := range []struct{ service, digest, previous string }{{"web", web3, web1}, {"api", api2, api1}} {
		s, ok := final.Service(want.service)
		if !ok || s.Digest != want.digest || s.Previous != want.previous || !s.Changed {
			t.Errorf("deploy %d of %s = %+v, want %s (previous %s), recreated", final.ID, want.service, s, short12(want.digest), short12(want.previous))
		}
	}
	for _, dep := range h {
		if dep.Status == forge.StatusInterrupted && dep.ID > final.ID {
			t.Errorf("deploy %d was merged away after the deploy %d that carried it", dep.ID, final.ID)
		}
	}
	// The daemon's container event watch resubscribed: once its last retry
	// is due, it logs no further failure.
	deadline = time.Now().Add(25 * time.Second)
	for {
		due, ok := watchRetryDue(t, d.Log())
		if !ok {
			t.Fatalf("the daemon's event watch never saw its stream break, though the proxy cut it")
		}
		if time.Now().After(due.Add(2 * time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's container event watch still fails to resubscribe %s after the engine came back (see the daemon log below)", time.Since(upAt).Round(time.Second))
		}
		time.Sleep(250 * time.Millisecond)
	}
	webAfter, apiAfter := e.container(project, "web"), e.container(project, "api")
	if webAfter.Image != webRepo+"@"+web3 || webAfter.Version != "web-v3" || webAfter.State != "running" {
		t.Errorf("web after the outage = %+v, want %s@%s serving web-v3", webAfter, webRepo, web3)
	}
	if apiAfter.Image != apiRepo+"@"+api2 || apiAfter.Version != "api-v2" || apiAfter.State != "running" {
		t.Errorf("api after the outage = %+v, want %s@%s serving api-v2", apiAfter, apiRepo, api2)
	}
	t.Logf("total %s", time.Since(started).Round(100*time.Millisecond))
}
