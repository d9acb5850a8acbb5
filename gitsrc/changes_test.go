package gitsrc_test

import (
	"testing"

	"github.com/docker-forge/docker-forge/gitsrc"
)

func TestAnyUnder(t *testing.T) {
	paths := []string{"compose.yaml", "services/web/Dockerfile", "services/webhooks/main.go"}
	tests := []struct {
		dir  string
		want bool
	}{
		{dir: "services/web", want: true},
		{dir: "./services/web/", want: true},
		{dir: "services", want: true},
		{dir: "services/api", want: false},
		{dir: "services/we", want: false}, // a prefix of a name is not its directory
		{dir: "compose.yaml", want: true},
		{dir: ".", want: true},
		{dir: "", want: true},
		{dir: "../elsewhere", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			if got := gitsrc.AnyUnder(paths, tt.dir); got != tt.want {
				t.Errorf("AnyUnder(%q) = %v, want %v", tt.dir, got, tt.want)
			}
		})
	}
	if gitsrc.AnyUnder(nil, ".") {
		t.Error("no changed paths lie anywhere")
	}
}
