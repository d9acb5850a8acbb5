// Package e2e runs docker-forge against a real Docker engine and a real
// Distribution registry (Debian's docker.io and docker-registry): images are
// built locally with `docker import` of a busybox root filesystem, pushed to
// a registry on 127.0.0.1 whose notifications go to a real daemon, and the
// resulting deploys are checked on the engine.
//
// Without an engine the tests skip, unless FORGE_E2E=1 (as `make test` and
// .ci/run set it), where a missing engine fails the run.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"

	"github.com/docker-forge/docker-forge"
)

// forgeBin is the docker-forge binary built once for the whole run.
var forgeBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("FORGE_E2E") == "1" {
			fmt.Fprintln(os.Stderr, "e2e: FORGE_E2E=1 but no Docker engine answers; run scripts/services.sh")
			return 1
		}
		fmt.Fprintln(os.Stderr, "e2e: no Docker engine answers; skipping (set FORGE_E2E=1 to fail instead)")
		return 0
	}
	for _, tool := range []string{"docker-registry", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s not found; run scripts/services.sh\n", tool)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "forge-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	forgeBin = filepath.Join(dir, "docker-forge")
	build := exec.Command("go", "build", "-o", forgeBin, "../cmd/docker-forge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build docker-forge:", err)
		return 1
	}
	return m.Run()
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// env is one test's world: a Docker config dir with the plugin installed and
// fake registry credentials, and a data dir for forge.
type env struct {
	t         testing.TB
	dockerCfg string
	dataDir   string
	extraEnv  []string
	images    []string // image ids imported, removed when the test ends
	// https makes startDaemon wait for the daemon over HTTPS with this
	// client (one that trusts the daemon's certificate).
	https *http.Client
}

// registryPassword sits in the test's Docker config as a registry
// credential; it must never reach a log line or the ledger.
const registryPassword = "hunter2-registry-pass"

func newEnv(t testing.TB, registry string) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, dockerCfg: filepath.Join(root, "docker"), dataDir: filepath.Join(root, "forge")}
	// Registered first, so it runs last: after the containers using the
	// images are gone.
	t.Cleanup(func() {
		if len(e.images) > 0 {
			// Newest first: an image built FROM an older one goes before it.
			imgs := slices.Clone(e.images)
			slices.Reverse(imgs)
			_, _ = e.tryDocker(append([]string{"rmi", "-f"}, imgs...)...)
		}
	})
	plugins := filepath.Join(e.dockerCfg, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(forgeBin, filepath.Join(plugins, "docker-forge")); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"auths": map[string]any{}}
	if registry != "" {
		cfg["auths"] = map[string]any{registry: map[string]string{"username": "forge-e2e", "password": registryPassword}}
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(e.dockerCfg, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) environ() []string {
	return append(append(os.Environ(), "DOCKER_CONFIG="+e.dockerCfg, "FORGE_DATA_DIR="+e.dataDir), e.extraEnv...)
}

// docker runs the docker CLI (and through it the forge plugin) in e's
// config, failing the test on error.
func (e *env) docker(args ...string) string {
	e.t.Helper()
	out, err := e.tryDocker(args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) tryDocker(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = e.environ()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// forgeJSON runs `docker forge ARGS --json` and decodes stdout into v.
func (e *env) forgeJSON(v any, args ...string) {
	e.t.Helper()
	cmd := exec.Command("docker", append(append([]string{"forge"}, args...), "--json")...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("docker forge %s --json: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		e.t.Fatalf("docker forge %s --json: decode: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func (e *env) history(project string) []forge.Deploy {
	e.t.Helper()
	return e.historyOn("", project)
}

// daemon is a running `docker-forge serve`.
type daemon struct {
	procLog
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// procLog is what a process wrote, read while it still writes.
type procLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Log returns what the process wrote so far.
func (l *procLog) Log() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// interrupt stops a process with SIGINT, as a person or an init system
// would, and kills it after grace; it reports whether it had to.
func interrupt(p *os.Process, done <-chan struct{}, grace time.Duration) (killed bool) {
	select {
	case <-done:
		return false
	default:
	}
	_ = p.Signal(os.Interrupt)
	select {
	case <-done:
		return false
	case <-time.After(grace):
		_ = p.Kill()
		<-done
		return true
	}
}

// startDaemon runs docker-forge standalone, as under systemd.
func (e *env) startDaemon(secret string, args ...string) *daemon {
	e.t.Helper()
	d := &daemon{addr: fmt.Sprintf("127.0.0.1:%d", freePort(e.t)), done: make(chan struct{})}
	d.cmd = exec.Command(forgeBin, append([]string{"serve", "--addr", d.addr, "--log-level", "debug"}, args...)...)
	for i, a := range args { // a later --addr wins: reach the daemon there
		if a == "--addr" && i+1 < len(args) {
			_, port, _ := net.SplitHostPort(args[i+1])
			d.addr = "127.0.0.1:" + port
		}
	}
	d.cmd.Env = append(e.environ(), "FORGE_WEBHOOK_SECRET="+secret)
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	e.t.Cleanup(func() { d.stop(e.t) })
	deadline := time.Now().Add(15 * time.Second)
	client, scheme := http.DefaultClient, "http://"
	if e.https != nil {
		client, scheme = e.https, "https://"
	}
	for {
		resp, err := client.Get(scheme + d.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(filepath.Join(e.dataDir, "forge.sock")); err == nil {
				return d
			}
		}
		select {
		case <-d.done:
			e.t.Fatalf("daemon exited at start:\n%s", d.Log())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("daemon did not answer on %s:\n%s", d.addr, d.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	if interrupt(d.cmd.Process, d.done, 20*time.Second) {
		t.Errorf("daemon did not stop on SIGINT within 20s")
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", d.Log())
	}
}

// startRegistry runs Debian's docker-registry on addr (a loopback
// host:port), with its notifications sent to hookURL carrying
// "Authorization: Bearer secret".
func startRegistry(t testing.TB, addr, hookURL, secret string) {
	t.Helper()
	startRegistryEnv(t, addr, hookURL, secret, nil)
}

// startRegistryEnv is startRegistry with more environment for the
// registry (SSL_CERT_FILE, to trust an HTTPS listener's CA).
func startRegistryEnv(t testing.TB, addr, hookURL, secret string, env []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
notifications:
  endpoints:
    - name: forge
      url: %s
      headers:
        Authorization: [Bearer %s]
      timeout: 2s
      threshold: 3
      backoff: 500ms
`, filepath.Join(dir, "data"), addr, hookURL, secret)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, "docker-registry", env, "serve", path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not answer on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startProcess runs a helper program (a registry, an ACME server) until
// the test ends, with env added to the test's environment, and shows its
// output when the test failed.
func startProcess(t testing.TB, name string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer // the same writer for both: exec writes it from one goroutine at a time
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

// importImage builds a tiny image whose /www/version holds version: a static
// busybox (sh, httpd, sleep, cat) and nothing else.
func (e *env) importImage(ref, version string) {
	e.t.Helper()
	e.importImageFiles(ref, version, nil)
}

// importImageFiles is importImage with extra files under /www.
func (e *env) importImageFiles(ref, version string, files map[string]string) {
	e.t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		e.t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		if err := tw.WriteHeader(h); err != nil {
			e.t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			e.t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "www/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(busybox))}, busybox)
	for _, l := range []string{"sh", "httpd", "sleep", "cat"} {
		add(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	v := []byte(version + "\n")
	add(&tar.Header{Name: "www/version", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(v))}, v)
	for name, body := range files {
		add(&tar.Header{Name: "www/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, []byte(body))
	}
	if err := tw.Close(); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command("docker", "import", "-c", `CMD ["/bin/httpd","-f","-p","8080","-h","/www"]`, "-", ref)
	cmd.Env = e.environ()
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("docker import %s: %v\n%s", ref, err, out)
	}
	e.images = append(e.images, strings.TrimSpace(string(out)))
}

var pushDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// push pushes ref and returns the manifest digest the registry stored.
func (e *env) push(ref string) string {
	e.t.Helper()
	out := e.docker("push", ref)
	m := pushDigest.FindStringSubmatch(out)
	if m == nil {
		e.t.Fatalf("docker push %s: no digest in output:\n%s", ref, out)
	}
	return m[1]
}

// container is what the engine says about a service's container.
type container struct {
	ID, Image, State, Version string
}

func (e *env) container(project, service string) container {
	e.t.Helper()
	id := strings.TrimSpace(e.docker("ps", "-aq", "--no-trunc",
		"--filter", "label="+forge.ComposeProjectLabel+"="+project,
		"--filter", "label="+forge.ComposeServiceLabel+"="+service))
	if id == "" || strings.Contains(id, "\n") {
		e.t.Fatalf("want one container for %s/%s, got %q", project, service, id)
	}
	f := strings.Fields(e.docker("inspect", "-f", "{{.Config.Image}} {{.State.Status}}", id))
	c := container{ID: id, Image: f[0], State: f[1]}
	if c.State == "running" {
		c.Version = strings.TrimSpace(e.docker("exec", id, "cat", "/www/version"))
	}
	return c
}

// cleanupProject removes every container, network and volume of a compose
// project (anonymous volumes with their containers).
func (e *env) cleanupProject(project string) {
	e.t.Cleanup(func() {
		label := "label=" + forge.ComposeProjectLabel + "=" + project
		ids := strings.Fields(e.docker("ps", "-aq", "--filter", label))
		if len(ids) > 0 {
			_, _ = e.tryDocker(append([]string{"rm", "-fv"}, ids...)...)
		}
		_, _ = e.tryDocker("network", "rm", project+"_default")
		if vols := strings.Fields(e.docker("volume", "ls", "-q", "--filter", label)); len(vols) > 0 {
			_, _ = e.tryDocker(append([]string{"volume", "rm", "-f"}, vols...)...)
		}
	})
}

func writeCompose(t testing.TB, body string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func postJSON(ctx context.Context, url string, body []byte, header map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func sleep() { time.Sleep(200 * time.Millisecond) }

// flipStack is a running project whose forge-enabled web service follows
// repo:live in a registry of its own (no notifications), with two image
// variants, a and b, pushed; flip points the tag at one of them. The crash
// and load tests drive it with generic webhooks.
type flipStack struct {
	e                  *env
	project, repo, ref string
	digests            map[string]string
}

func newFlipStack(t *testing.T, name string) *flipStack {
	t.Helper()
	regAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := newEnv(t, regAddr)
	startRegistry(t, regAddr, fmt.Sprintf("http://127.0.0.1:%d/unused", freePort(t)), "unused")
	s := &flipStack{e: e, project: randomName("forge-e2e-" + name + "-")}
	s.repo = regAddr + "/" + s.project + "/app"
	s.ref = s.repo + ":live"
	e.cleanupProject(s.project)
	e.importImage(s.repo+":a", "a")
	e.importImage(s.repo+":b", "b")
	s.digests = map[string]string{"a": e.push(s.repo + ":a"), "b": e.push(s.repo + ":b")}
	s.flip("a")
	compose := writeCompose(t, fmt.Sprintf(`services:
  web:
    image: %s
    init: true
    labels:
      forge.enable: "true"
      forge.settle: "200ms"
`, s.ref))
	var first forge.Deploy
	e.forgeJSON(&first, "deploy", "-f", compose, "-p", s.project)
	if first.Status != forge.StatusSucceeded {
		t.Fatalf("first deploy = %+v", first)
	}
	return s
}

// flip points repo:live at variant ("a" or "b") and returns its digest.
func (s *flipStack) flip(variant string) string {
	s.e.docker("tag", s.repo+":"+variant, s.ref)
	return s.e.push(s.ref)
}

// pushStack is one test's daemon and registry, the registry's notifications
// going to hook (the daemon's /hooks/distribution, or nowhere), and a
// unique project whose image is repo:live.
type pushStack struct {
	e                  *env
	d                  *daemon
	regAddr, secret    string
	project, repo, ref string
}

func newPushStack(t testing.TB, name string, notify bool, daemonArgs ...string) *pushStack {
	t.Helper()
	s := &pushStack{regAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), secret: randomName("e2e-webhook-secret-")}
	s.e = newEnv(t, s.regAddr)
	s.d = s.e.startDaemon(s.secret, daemonArgs...)
	hook := fmt.Sprintf("http://127.0.0.1:%d/lost", freePort(t))
	if notify {
		hook = "http://" + s.d.addr + "/hooks/distribution"
	}
	startRegistry(t, s.regAddr, hook, s.secret)
	s.project = randomName("forge-e2e-" + name + "-")
	s.repo = s.regAddr + "/" + s.project + "/app"
	s.ref = s.repo + ":live"
	s.e.cleanupProject(s.project)
	return s
}

// dockerCLI is an initialized docker CLI on the engine the tests use, for
// benchmarks that drive the engine or the compose SDK in-process.
func dockerCLI(tb testing.TB) *command.DockerCli {
	tb.Helper()
	cli, err := command.NewDockerCli()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cli.Initialize(flags.NewClientOptions()); err != nil {
		tb.Fatal(err)
	}
	return cli
}
