package dispatch

import (
	"errors"
	"strings"
	"testing"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// TestLock: a lock pins each service of the compose file to what it ran
// after the deploy named (or the newest successful one), taken from the
// newest successful deploy up to then that ran it, so a push of one service
// still locks the others; failed deploys are refused, unknown ones and
// unknown projects named as such.
func TestLock(t *testing.T) {
	e := newEnv(t)
	tool := e.eng.addLocal("acme/tool:dev")
	e.eng.addProject("shop", enabled("web", shopRepo+":live"), svc("tool", "acme/tool:dev"), svc("extra", "acme/extra:1"))
	e.eng.push(shopRepo, "live", dg("v1"))
	first, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop", WorkingDir: "/srv/shop", ConfigFiles: []string{"/srv/shop/compose.yaml"}}, Services: []string{"web", "tool"}})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.push(shopRepo, "live", dg("v2"))
	second, err := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	e.eng.push(shopRepo, "live", dg("v3"))
	e.eng.failUp("shop", errors.New("pull access denied"))
	failed, _ := e.d.Deploy(t.Context(), Request{Ref: forge.ProjectRef{Name: "shop"}, Services: []string{"web"}})
	e.eng.failUp("shop", nil)

	tests := []struct {
		name    string
		project string
		id      uint64
		want    map[string]string // service -> image
		wantErr string
		is      error
	}{
		{name: "newest", project: "shop", want: map[string]string{"web": shopRepo + "@" + dg("v2"), "tool": tool}},
		{name: "an earlier deploy", project: "shop", id: first.ID, want: map[string]string{"web": shopRepo + "@" + dg("v1"), "tool": tool}},
		{name: "a failed deploy", project: "shop", id: failed.ID, wantErr: "failed; lock a successful deploy"},
		{name: "an unknown deploy", project: "shop", id: 999, wantErr: "no deploy 999", is: ledger.ErrNotFound},
		{name: "an unknown project", project: "blog", wantErr: "unknown project", is: ErrUnknownProject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := e.d.Lock(t.Context(), tt.project, tt.id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("Lock = %+v, %v; want an error saying %q", l, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range l.Services {
				got[s.Service] = s.Image
				if s.Local != (s.Service == "tool") {
					t.Errorf("%s: local = %v", s.Service, s.Local)
				}
			}
			if len(got) != len(tt.want) || got["web"] != tt.want["web"] || got["tool"] != tt.want["tool"] {
				t.Errorf("locked %v, want %v", got, tt.want)
			}
			if len(l.Unpinned) != 1 || l.Unpinned[0] != "extra" {
				t.Errorf("unpinned %v, want [extra]", l.Unpinned)
			}
			wantDeploy := second.ID
			if tt.id != 0 {
				wantDeploy = tt.id
			}
			if l.Deploy.ID != wantDeploy {
				t.Errorf("lock of deploy %d, want %d", l.Deploy.ID, wantDeploy)
			}
		})
	}
}
