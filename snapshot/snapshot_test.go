package snapshot

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMasker(t *testing.T) {
	m := NewMasker([]byte("k1"), "*_DSN")
	for name, want := range map[string]bool{"DB_PASSWORD": true, "api_token": true, "AWS_SECRET_ACCESS_KEY": true, "SENTRY_DSN": true, "LOG_LEVEL": false, "PORT": false} {
		if got := m.SecretName(name); got != want {
			t.Errorf("SecretName(%s) = %v, want %v", name, got, want)
		}
	}
	h := m.Hide("hunter2")
	if !IsMasked(h) || strings.Contains(h, "hunter2") || !m.Same(h, "hunter2") || m.Same(h, "hunter3") {
		t.Errorf("Hide(hunter2) = %q", h)
	}
	if NewMasker([]byte("k2")).Hide("hunter2") == h {
		t.Error("two keys give the same hash: the key is not in it")
	}
	u := m.HideURLCredentials("postgres://app:s3cr3t@db:5432/shop and https://x.test/path")
	if strings.Contains(u, "s3cr3t") || !strings.Contains(u, "postgres://app:"+Marker) || !strings.Contains(u, "https://x.test/path") {
		t.Errorf("HideURLCredentials = %q", u)
	}
	if HasURLCredentials("https://x.test/path") {
		t.Error("a URL without a password has credentials")
	}
}

func TestLoadKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "forge", "snapshot.key")
	k1, err := LoadKey(p)
	if err != nil || len(k1) != 32 {
		t.Fatal(k1, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if k2, _ := LoadKey(p); string(k2) != string(k1) {
		t.Error("the key changed when read again")
	}
}

// TestDiff compares two snapshots as compose-go writes them.
func TestDiff(t *testing.T) {
	m := NewMasker([]byte("k"))
	a := `{"image":"reg/web@sha256:aaa","command":["httpd","-f"],"environment":{"LOG_LEVEL":"info","DB_PASSWORD":"` + m.Hide("one") + `","KEEP":"x"},
		"ports":[{"mode":"ingress","target":80,"published":"8080","protocol":"tcp"}],"volumes":[{"type":"volume","source":"shop_data","target":"/data"}],
		"healthcheck":{"test":["CMD","true"],"interval":"5s"}}`
	b := `{"image":"reg/web@sha256:bbb","command":["httpd","-f","-v"],"environment":{"LOG_LEVEL":"debug","DB_PASSWORD":"` + m.Hide("two") + `","KEEP":"x","NEW":"1"},
		"ports":[{"mode":"ingress","target":80,"published":"8080","protocol":"tcp"},{"target":443,"published":"8443","protocol":"tcp"}],
		"volumes":[{"type":"volume","source":"shop_data","target":"/data","read_only":true}],"healthcheck":{"test":["CMD","true"],"interval":"10s"}}`
	fa, err := Flatten([]byte(a))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := Flatten([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	changes := Diff(fa, fb)
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		`command: ["httpd","-f"] → ["httpd","-f","-v"]`,
		"environment.DB_PASSWORD: changed",
		"environment.LOG_LEVEL: info → debug",
		"environment.NEW: +1",
		"healthcheck.interval: 5s → 10s",
		"image: reg/web@sha256:aaa → reg/web@sha256:bbb",
		"ports: +8443:443/tcp",
		"volumes: +shop_data:/data:ro -shop_data:/data",
	}
	if !slices.Equal(got, want) {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range changes {
		if c.Secret && (c.From != "" || c.To != "") {
			t.Errorf("a secret's change shows its values: %+v", c)
		}
	}
	if s := Summary(changes); s != "digest, command, 3 env, healthcheck, ports, volumes" {
		t.Errorf("summary %q", s)
	}
	if len(Diff(fa, fa)) != 0 {
		t.Error("a snapshot differs from itself")
	}
	if only := fb.Only("environment", "image"); len(only.Sets) != 0 || only.Scalars["image"] == "" || only.Scalars["healthcheck.interval"] != "" {
		t.Errorf("Only kept %+v", only)
	}
}
