package cliplugin

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
)

// TestArgumentErrors runs commands whose arguments are wrong and checks that
// each fails with a clear message before it opens the ledger or reaches
// Docker: the data dir stays empty and nothing is announced.
func TestArgumentErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{
			name:    "deploy without project or file",
			args:    []string{"deploy"},
			wantErr: `"docker forge deploy" needs a PROJECT, or -f with the compose file`,
		},
		{
			name:    "deploy with only services flags",
			args:    []string{"deploy", "--profile", "prod", "--json"},
			wantErr: `"docker forge deploy" needs a PROJECT, or -f with the compose file`,
		},
		{
			name:    "deploy -p without -f",
			args:    []string{"deploy", "-p", "x", "shop"},
			wantErr: "-p names a project for -f; without -f give the project as the first argument",
		},
		{
			name:    "deploy --project-name without -f",
			args:    []string{"deploy", "--project-name", "x", "shop", "web"},
			wantErr: "-p names a project for -f; without -f give the project as the first argument",
		},
		{name: "deploy bad log level", args: []string{"deploy", "shop", "--log-level", "bogus"}, wantErr: `--log-level "bogus": want debug, info, warn or error`},
		{name: "ls bad log level", args: []string{"ls", "--log-level", "bogus"}, wantErr: `--log-level "bogus": want debug, info, warn or error`},
		{name: "history bad log level", args: []string{"--log-level", "bogus", "history", "shop"}, wantErr: `--log-level "bogus": want debug, info, warn or error`},
		{name: "rollback bad log level", args: []string{"rollback", "shop", "--log-level=bogus"}, wantErr: `--log-level "bogus": want debug, info, warn or error`},
		{name: "serve bad log level", args: []string{"serve", "--log-level", "bogus"}, wantErr: `--log-level "bogus": want debug, info, warn or error`},
		{
			name: "bad log level from the environment", args: []string{"ls"},
			env:     map[string]string{"FORGE_LOG_LEVEL": "verbose"},
			wantErr: `--log-level "verbose": want debug, info, warn or error`,
		},
		{
			name: "serve without a secret", args: []string{"serve"},
			env:     map[string]string{"FORGE_WEBHOOK_SECRET": "", "FORGE_WEBHOOK_SECRET_FILE": ""},
			wantErr: "no webhook secret: set FORGE_WEBHOOK_SECRET",
		},
		{name: "history without project", args: []string{"history"}, wantErr: "accepts 1 arg(s), received 0"},
		{name: "history with two projects", args: []string{"history", "shop", "blog"}, wantErr: "accepts 1 arg(s), received 2"},
		{name: "rollback without project", args: []string{"rollback"}, wantErr: "requires at least 1 arg(s), only received 0"},
		{name: "rollback to a non-number", args: []string{"rollback", "shop", "--to", "last"}, wantErr: `invalid argument "last" for "--to"`},
		{name: "ls with a project", args: []string{"ls", "shop"}, wantErr: `unknown command "shop" for "forge ls"`},
		{name: "version with an argument", args: []string{"version", "now"}, wantErr: `unknown command "now" for "forge version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dataDir := filepath.Join(t.TempDir(), "forge")
			cli := newTestCLI(t)
			out, err := run(t, cli, false, append(tt.args, "--data-dir", dataDir)...)
			if err == nil {
				t.Fatalf("%v succeeded, want an error", tt.args)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if _, serr := os.Stat(dataDir); !os.IsNotExist(serr) {
				t.Errorf("the data dir %s was created (%v): the command got past its argument checks", dataDir, serr)
			}
			if cli.out.Len() != 0 || cli.err.Len() != 0 {
				t.Errorf("the command printed %q / %q before failing", cli.out, cli.err)
			}
			if strings.Contains(out, "Usage:") {
				t.Errorf("an error printed the usage:\n%s", out)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level   string
		want    slog.Level
		wantErr bool
	}{
		{level: "", want: slog.LevelWarn},
		{level: "debug", want: slog.LevelDebug},
		{level: "info", want: slog.LevelInfo},
		{level: "INFO", want: slog.LevelInfo},
		{level: "Warn", want: slog.LevelWarn},
		{level: "error", want: slog.LevelError},
		{level: "bogus", wantErr: true},
		{level: "verbose", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := (&globalOptions{logLevel: tt.level}).logger(&buf)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "want debug, info, warn or error") {
					t.Errorf("logger(%q) error %v, want a clear error", tt.level, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("logger(%q): %v", tt.level, err)
			}
			ctx := context.Background()
			if !log.Enabled(ctx, tt.want) || log.Enabled(ctx, tt.want-1) {
				t.Errorf("logger(%q) is not at level %v", tt.level, tt.want)
			}
			log.Log(ctx, tt.want, "hello")
			if !strings.Contains(buf.String(), "msg=hello") {
				t.Errorf("logger(%q) wrote %q, want text to its writer", tt.level, buf.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	cli := newTestCLI(t)
	if _, err := run(t, cli, true, "version"); err != nil {
		t.Fatalf("version: %v", err)
	}
	if got, want := cli.out.String(), "docker-forge "+forge.Version+"\n"; got != want {
		t.Errorf("version printed %q, want %q", got, want)
	}
}

func TestMetadata(t *testing.T) {
	m := Metadata()
	if m.SchemaVersion != "0.1.0" || m.Vendor == "" || m.Version != forge.Version || m.ShortDescription == "" {
		t.Errorf("plugin metadata %+v is incomplete", m)
	}
}

func TestPaths(t *testing.T) {
	g := &globalOptions{dataDir: "/var/lib/docker-forge"}
	if got, want := g.ledgerPath(), "/var/lib/docker-forge/forge.db"; got != want {
		t.Errorf("ledgerPath() = %q, want %q", got, want)
	}
	if got, want := g.socketPath(), "/var/lib/docker-forge/forge.sock"; got != want {
		t.Errorf("socketPath() = %q, want %q", got, want)
	}
}
