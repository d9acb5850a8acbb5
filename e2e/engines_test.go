package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"

	"github.com/docker-forge/docker-forge"
)

// secondEngine is a dockerd of its own beside the tests' engine, in a network
// namespace of its own (started outside one it would take the first engine's
// docker0), with its own socket, data root and exec root.
type secondEngine struct {
	procLog
	t        testing.TB
	netns    string
	dir      string
	sock     string
	cmd      *exec.Cmd
	done     chan struct{}
	forwards []net.Listener
}

func startSecondEngine(t testing.TB) *secondEngine {
	t.Helper()
	for _, tool := range []string{"ip", "nsenter", "dockerd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found; run scripts/services.sh", tool)
		}
	}
	// A short directory: the socket's path must fit in a sockaddr.
	dir, err := os.MkdirTemp("", "forge-e2e-engine-")
	if err != nil {
		t.Fatal(err)
	}
	s := &secondEngine{t: t, netns: randomName("forge-e2e-"), dir: dir, sock: filepath.Join(dir, "docker.sock")}
	if out, err := exec.Command("ip", "netns", "add", s.netns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		s.stop()
		for _, ln := range s.forwards {
			_ = ln.Close()
		}
		// What the engine mounted under its roots goes with it.
		_ = exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l").Run()
		_ = os.RemoveAll(dir)
		if out, err := exec.Command("ip", "netns", "del", s.netns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", s.netns, err, out)
		}
	})
	if out, err := exec.Command("ip", "netns", "exec", s.netns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up in %s: %v\n%s", s.netns, err, out)
	}
	s.start()
	return s
}

// host is the engine's address, as DOCKER_HOST or a context's endpoint.
func (s *secondEngine) host() string { return "unix://" + s.sock }

// start runs dockerd (again, on the same data root) and waits until it answers.
func (s *secondEngine) start() {
	s.t.Helper()
	s.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+s.netns, "dockerd",
		"--data-root", filepath.Join(s.dir, "data"), "--exec-root", filepath.Join(s.dir, "exec"),
		"--pidfile", filepath.Join(s.dir, "docker.pid"), "-H", s.host())
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command("docker", "-H", s.host(), "info").Run() != nil {
		select {
		case <-done:
			s.t.Fatalf("the second dockerd exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the second dockerd did not answer within 60s:\n%s", s.Log())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stop ends dockerd as a host going down would, its containers with it.
func (s *secondEngine) stop() {
	if interrupt(s.cmd.Process, s.done, 30*time.Second) {
		s.t.Logf("the second dockerd did not stop on SIGINT within 30s:\n%s", s.Log())
	}
}

// forward makes addr (a 127.0.0.1 host:port of this machine, such as the
// test registry) answer inside the engine's namespace too, so an image
// reference names the same registry on both engines.
func (s *secondEngine) forward(addr string) {
	s.t.Helper()
	ln, err := listenInNetns("/var/run/netns/"+s.netns, addr)
	if err != nil {
		s.t.Fatalf("listen on %s in %s: %v", addr, s.netns, err)
	}
	s.forwards = append(s.forwards, ln)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
}

// listenInNetns listens on addr inside the network namespace at path: the
// socket is made on a thread that joined it, and that thread is never
// handed back to other goroutines (it ends with its goroutine).
func listenInNetns(path, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread exits in the namespace
		ns, err := os.Open(path)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

// historyOn is a project's history on the engine of a docker context ("":
// the command's default).
func (e *env) historyOn(context, project string) []forge.Deploy {
	e.t.Helper()
	args := []string{"history", project}
	if context != "" {
		args = append(args, "--context", context)
	}
	var h []forge.Deploy
	e.forgeJSON(&h, args...)
	return h
}

// waitOn waits until a project's newest deploy on the engine of a docker
// context ("": the default) is final and ok accepts its history.
func (e *env) waitOn(context, project string, ok func([]forge.Deploy) bool) []forge.Deploy {
	e.t.Helper()
	var h []forge.Deploy
	for range 450 {
		h = e.historyOn(context, project)
		if len(h) > 0 && h[0].Status.Final() && ok(h) {
			return h
		}
		sleep()
	}
	e.t.Fatalf("history of %s on %s never reached the expected state: %+v", project, context, h)
	return nil
}

// imageOn is the image reference the project's web container on the engine
// of a docker context was created from, and its state.
func (e *env) imageOn(context, project string) (string, string) {
	e.t.Helper()
	id := strings.TrimSpace(e.docker("--context", context, "ps", "-aq", "--no-trunc",
		"--filter", "label="+forge.ComposeProjectLabel+"="+project, "--filter", "label="+forge.ComposeServiceLabel+"=web"))
	if id == "" || strings.Contains(id, "\n") {
		e.t.Fatalf("want one web container of %s on %s, got %q", project, context, id)
	}
	f := strings.Fields(e.docker("--context", context, "inspect", "-f", "{{.Config.Image}} {{.State.Status}}", id))
	return f[0], f[1]
}

// TestOnePushDeploysOnEveryEngine: serve drives two engines named by docker
// contexts (the tests' own and a second dockerd in a namespace of its own).
// One push through the registry's real webhook redeploys the project on
// both; with the second engine stopped, the first still deploys at once and
// the second's deploy waits in the queue until the engine returns, then
// catches up. Each command reaches the engine its --context names; an
// unknown or unreachable context is a clear error that touches no engine.
func TestOnePushDeploysOnEveryEngine(t *testing.T) {
	edge := startSecondEngine(t)
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	secret := randomName("e2e-webhook-secret-")
	e := newEnv(t, regAddr)
	e.docker("context", "create", "edge", "--docker", "host="+edge.host())
	edge.forward(regAddr)

	// A context that names an engine which does not exist is refused at
	// start, before anything listens.
	bad := exec.Command(forgeBin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--context", "default", "--context", "nosuch")
	bad.Env = append(e.environ(), "FORGE_WEBHOOK_SECRET="+secret)
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown docker context "nosuch"`) {
		t.Fatalf("serve --context nosuch: %v\n%s", err, out)
	}

	d := e.startDaemon(secret, "--context", "default", "--context", "edge", "--stats-schedule", "@every 1s")
	startRegistry(t, regAddr, "http://"+d.addr+"/hooks/distribution", secret)
	project := randomName("forge-e2e-engines-")
	e.cleanupProject(project)
	repo := regAddr + "/" + project + "/app"
	ref := repo + ":live"

	e.importImage(ref, "v1")
	d1 := e.push(ref)
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
`, ref))
	firstID := map[string]uint64{}
	for _, ctx := range []string{"default", "edge"} {
		var first forge.Deploy
		e.forgeJSON(&first, "deploy", "--context", ctx, "-f", compose, "-p", project)
		if s, _ := first.Service("web"); first.Status != forge.StatusSucceeded || first.Engine != ctx || s.Digest != d1 {
			t.Fatalf("first deploy on %s = %+v, want succeeded on %s at %s", ctx, first, ctx, d1)
		}
		if img, state := e.imageOn(ctx, project); img != repo+"@"+d1 || state != "running" {
			t.Fatalf("web on %s runs %s (%s), want %s@%s", ctx, img, state, repo, d1)
		}
		firstID[ctx] = first.ID
	}

	// One push, two engines.
	e.importImage(ref, "v2")
	d2 := e.push(ref)
	for _, ctx := range []string{"default", "edge"} {
		h := e.waitOn(ctx, project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonPush })
		if s, _ := h[0].Service("web"); h[0].Status != forge.StatusSucceeded || h[0].Engine != ctx || s.Digest != d2 || s.Previous != d1 {
			t.Fatalf("push deploy on %s = %+v, want succeeded from %s to %s", ctx, h[0], d1, d2)
		}
		if img, _ := e.imageOn(ctx, project); img != repo+"@"+d2 {
			t.Fatalf("web on %s runs %s after the push, want %s@%s", ctx, img, repo, d2)
		}
	}
	var ls []struct {
		Name   string `json:"name"`
		Engine string `json:"engine"`
	}
	e.forgeJSON(&ls, "ls")
	engines := map[string]bool{}
	for _, p := range ls {
		if p.Name == project {
			engines[p.Engine] = true
		}
	}
	if !engines["default"] || !engines["edge"] || len(engines) != 2 {
		t.Fatalf("ls shows %s on %v, want on default and edge: %+v", project, engines, ls)
	}
	if out := e.docker("forge", "history", "--context", "edge", project); !strings.Contains(out, "ENGINE") || !strings.Contains(out, "edge") {
		t.Fatalf("history --context edge does not show the engine:\n%s", out)
	}
	// docker's own --context and DOCKER_CONTEXT name the engine too.
	if out := e.docker("--context", "edge", "forge", "history", project); !strings.Contains(out, " edge ") || strings.Contains(out, " default ") {
		t.Fatalf("docker --context edge forge history shows another engine:\n%s", out)
	}
	cmd := exec.Command("docker", "forge", "history", project, "--json")
	cmd.Env = append(e.environ(), "DOCKER_CONTEXT=edge")
	out, err := cmd.Output()
	var viaEnv []forge.Deploy
	if err == nil {
		err = json.Unmarshal(out, &viaEnv)
	}
	if err != nil || len(viaEnv) == 0 || slices.ContainsFunc(viaEnv, func(d forge.Deploy) bool { return d.Engine != "edge" }) {
		t.Fatalf("DOCKER_CONTEXT=edge docker forge history: %v\n%s", err, out)
	}
	// The collector samples every engine.
	for i := 0; ; i++ {
		var series []forge.StatSeries
		e.forgeJSON(&series, "stats", "--context", "edge", project)
		if len(series) > 0 && series[0].Engine == "edge" && len(series[0].Points) > 0 {
			break
		}
		if i == 100 {
			t.Fatalf("no stats of %s on edge: %+v", project, series)
		}
		sleep()
	}

	// The second engine goes down: the first deploys the next push at once,
	// the second's deploy waits in the durable queue.
	edge.stop()
	e.importImage(ref, "v3")
	d3 := e.push(ref)
	h := e.waitOn("default", project, func(h []forge.Deploy) bool { s, _ := h[0].Service("web"); return s.Digest == d3 })
	if h[0].Status != forge.StatusSucceeded {
		t.Fatalf("push deploy on default while edge is down = %+v", h[0])
	}
	if hist := e.historyOn("edge", project); len(hist) == 0 || hist[0].Status != forge.StatusQueued {
		t.Fatalf("edge's deploy of the push while it is down = %+v, want queued", hist)
	}
	var down []struct {
		Name         string `json:"name"`
		Engine       string `json:"engine"`
		StateUnknown bool   `json:"state_unknown"`
	}
	e.forgeJSON(&down, "ls", "--context", "edge")
	if len(down) != 1 || down[0].Name != project || down[0].Engine != "edge" || !down[0].StateUnknown {
		t.Fatalf("ls --context edge while it is down = %+v, want %s, state unknown", down, project)
	}

	// It returns, and catches up.
	edge.start()
	h = e.waitOn("edge", project, func(h []forge.Deploy) bool { return h[0].Status == forge.StatusSucceeded })
	if s, _ := h[0].Service("web"); s.Digest != d3 || h[0].Reason != forge.ReasonPush {
		t.Fatalf("edge after it returned = %+v, want the push of %s deployed", h[0], d3)
	}
	if img, state := e.imageOn("edge", project); img != repo+"@"+d3 || state != "running" {
		t.Fatalf("web on edge runs %s (%s) after catching up, want %s@%s running", img, state, repo, d3)
	}

	// The dashboard lists the project on both engines; its page on edge
	// rolls back on edge, and only there.
	var adminTok struct {
		Token string `json:"token"`
	}
	e.forgeJSON(&adminTok, "token", "create", "--name", "admin-e2e", "--role", "admin")
	b := newBrowser(t)
	a := b.person()
	base := "http://" + d.addr
	b.signIn(a, base, adminTok.Token, "01-projects-on-two-engines")
	if n := b.count(a, fmt.Sprintf(`a[href="/projects/%s?context=edge"]`, project)); n == 0 {
		t.Fatalf("the projects page has no link to %s on edge:\n%s", project, b.text(a, "table.projects"))
	}
	b.do(a, "open the project on edge",
		chromedp.Navigate(base+"/projects/"+project+"?context=edge"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`button[data-rollback="%d"]`, firstID["edge"]))))
	b.shot(a, "02-project-on-edge")
	b.do(a, "open the rollback confirmation",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-rollback="%d"]`, firstID["edge"]))),
		chromedp.WaitVisible(chromedp.CSS("#rollback-body table.changes")))
	b.do(a, "confirm the rollback", chromedp.Click(chromedp.CSS("#rollback-confirm")))
	rb := e.waitOn("edge", project, func(h []forge.Deploy) bool { return h[0].Reason == forge.ReasonRollback })[0]
	b.do(a, "the rollback's row appears", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#deploy-%d .status-succeeded", rb.ID))))
	b.shot(a, "03-edge-after-rollback")
	if img, _ := e.imageOn("edge", project); img != repo+"@"+d1 || rb.RollbackOf != firstID["edge"] {
		t.Fatalf("edge after the page's rollback runs %s (%+v), want %s@%s", img, rb, repo, d1)
	}
	if img, _ := e.imageOn("default", project); img != repo+"@"+d3 || e.historyOn("default", project)[0].Reason == forge.ReasonRollback {
		t.Fatalf("the rollback on edge's page moved the default engine's project to %s", img)
	}

	// Bad input: an engine the daemon does not drive, one that does not
	// exist, one that does not answer.
	if out, err := e.tryDocker("forge", "history", "--context", "nosuch", project); err == nil || !strings.Contains(out, `"nosuch"`) {
		t.Fatalf("history --context nosuch: %v\n%s", err, out)
	}
	e.docker("context", "create", "dead", "--docker", "host=tcp://127.0.0.1:1")
	d.stop(t)
	if out, err := e.tryDocker("forge", "deploy", "--context", "dead", "-f", compose, "-p", project); err == nil || !strings.Contains(out, "unreachable") {
		t.Fatalf("deploy --context dead (no daemon): %v\n%s", err, out)
	}
	if out, err := e.tryDocker("forge", "ls", "--context", "nosuch"); err == nil || !strings.Contains(out, `unknown docker context "nosuch"`) {
		t.Fatalf("ls --context nosuch (no daemon): %v\n%s", err, out)
	}
	// Back on the address the registry notifies.
	d = e.startDaemon(secret, "--addr", d.addr, "--context", "default", "--context", "dead")
	e.importImage(ref, "v4")
	d4 := e.push(ref)
	h = e.waitOn("default", project, func(h []forge.Deploy) bool { s, _ := h[0].Service("web"); return s.Digest == d4 })
	if h[0].Status != forge.StatusSucceeded {
		t.Fatalf("push deploy on default beside an unreachable engine = %+v", h[0])
	}
	if !strings.Contains(d.Log(), "engine=dead") {
		t.Errorf("the daemon's log says nothing of the unreachable engine:\n%s", d.Log())
	}
}
