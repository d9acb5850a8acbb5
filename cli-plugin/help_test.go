package cliplugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/docker/cli/cli/command"
)

// testCLI is a docker CLI that is never initialized: no client, no context
// store read. Commands that reach Docker cannot run on it; the tests below
// check that help and argument errors never need to.
type testCLI struct {
	*command.DockerCli
	out, err *bytes.Buffer
}

func newTestCLI(t *testing.T) testCLI {
	t.Helper()
	out, errw := &bytes.Buffer{}, &bytes.Buffer{}
	cli, err := command.NewDockerCli(command.WithOutputStream(out), command.WithErrorStream(errw))
	if err != nil {
		t.Fatal(err)
	}
	return testCLI{DockerCli: cli, out: out, err: errw}
}

// run executes the command tree with args, capturing what cobra prints.
func run(t *testing.T, cli command.Cli, standalone bool, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand(cli, standalone)
	var buf bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&buf)
	root.SetErr(&buf)
	root.SetContext(t.Context())
	err := root.Execute()
	return buf.String(), err
}

func TestHelpGolden(t *testing.T) {
	tests := []struct {
		name       string
		standalone bool
		args       []string
	}{
		{name: "root", args: []string{"--help"}},
		{name: "root-standalone", standalone: true, args: []string{"--help"}},
		{name: "serve", args: []string{"serve", "--help"}},
		{name: "deploy", args: []string{"deploy", "--help"}},
		{name: "history", args: []string{"history", "--help"}},
		{name: "rollback", args: []string{"rollback", "--help"}},
		{name: "ls", args: []string{"ls", "--help"}},
		{name: "lock", args: []string{"lock", "--help"}},
		{name: "diff", args: []string{"diff", "--help"}},
		{name: "forget", args: []string{"forget", "--help"}},
		{name: "token", args: []string{"token", "--help"}},
		{name: "token-create", args: []string{"token", "create", "--help"}},
		{name: "notify", args: []string{"notify", "--help"}},
		{name: "cert", args: []string{"cert", "--help"}},
		{name: "notify-test", args: []string{"notify", "test", "--help"}},
		{name: "version", args: []string{"version", "--help"}},
		{name: "stats", args: []string{"stats", "--help"}},
		{name: "top", args: []string{"top", "--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli := newTestCLI(t)
			out, err := run(t, cli, tt.standalone, tt.args...)
			if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if cli.out.Len() != 0 || cli.err.Len() != 0 {
				t.Errorf("help wrote to the docker CLI's streams: %q %q", cli.out, cli.err)
			}
			checkGolden(t, "help-"+tt.name, []byte(out))
		})
	}
}

// TestHelpDefaults checks the environment-dependent defaults the goldens pin.
func TestHelpDefaults(t *testing.T) {
	if got, want := DefaultDataDir(), fakeDockerConfig+"/forge"; got != want {
		t.Errorf("DefaultDataDir() = %q, want %q", got, want)
	}
	tests := []struct {
		name, env, value string
		cmd              []string
		flag, want       string
	}{
		{name: "data dir", flag: "data-dir", want: fakeDockerConfig + "/forge"},
		{name: "data dir from env", env: "FORGE_DATA_DIR", value: "/var/lib/docker-forge", flag: "data-dir", want: "/var/lib/docker-forge"},
		{name: "log level", flag: "log-level", want: ""},
		{name: "log level from env", env: "FORGE_LOG_LEVEL", value: "debug", flag: "log-level", want: "debug"},
		{name: "addr", cmd: []string{"serve"}, flag: "addr", want: DefaultAddr},
		{name: "addr from env", env: "FORGE_ADDR", value: "0.0.0.0:9000", cmd: []string{"serve"}, flag: "addr", want: "0.0.0.0:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(tt.env, tt.value)
			}
			root := NewRootCommand(newTestCLI(t), false)
			cmd := root
			if len(tt.cmd) > 0 {
				var err error
				if cmd, _, err = root.Find(tt.cmd); err != nil {
					t.Fatal(err)
				}
			}
			f := cmd.Flags().Lookup(tt.flag)
			if f == nil {
				f = root.PersistentFlags().Lookup(tt.flag)
			}
			if f == nil {
				t.Fatalf("no flag --%s", tt.flag)
			}
			if f.DefValue != tt.want {
				t.Errorf("--%s default %q, want %q", tt.flag, f.DefValue, tt.want)
			}
		})
	}
}

// TestCommandTree checks that every command the design lists is there with a
// short description, and that every listing command has --json.
func TestCommandTree(t *testing.T) {
	root := NewRootCommand(newTestCLI(t), false)
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
		if c.Short == "" {
			t.Errorf("%s has no short description", c.Name())
		}
	}
	if got, want := strings.Join(names, ","), "cert,deploy,diff,forget,history,lock,ls,notify,rollback,serve,stats,token,top,version"; got != want {
		t.Errorf("commands %s, want %s", got, want)
	}
	for _, name := range []string{"ls", "history", "deploy", "rollback", "stats", "top", "diff", "forget", "cert"} {
		c, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		if c.Flags().Lookup("json") == nil {
			t.Errorf("%s has no --json", name)
		}
	}
	if !root.SilenceUsage || !root.SilenceErrors {
		t.Errorf("the root must leave printing errors to main (SilenceUsage %v, SilenceErrors %v)", root.SilenceUsage, root.SilenceErrors)
	}
}
