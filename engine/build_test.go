package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/docker-forge/docker-forge"
)

func TestNotifyOf(t *testing.T) {
	with := func(ext any) *types.Project {
		return &types.Project{Extensions: types.Extensions{forge.ExtensionKey: ext}}
	}
	tests := []struct {
		name    string
		p       *types.Project
		want    []string
		wantErr bool
	}{
		{name: "no x-forge", p: &types.Project{}},
		{name: "x-forge without notify", p: with(map[string]any{"repository": "https://git.example.com/shop.git"})},
		{name: "a list", p: with(map[string]any{"notify": []any{"ntfy://ntfy.example.com/shop", "generic+https://hooks.example.com/x"}}),
			want: []string{"ntfy://ntfy.example.com/shop", "generic+https://hooks.example.com/x"}},
		{name: "a string, not a list", p: with(map[string]any{"notify": "ntfy://ntfy.example.com/shop"}), wantErr: true},
		{name: "a number in the list", p: with(map[string]any{"notify": []any{"ntfy://a/b", 3}}), wantErr: true},
	}
	for _, tt := range tests {
		got, err := notifyOf(tt.p)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%s: notifyOf = %v, %v; want %v (error: %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "ntfy://") {
			t.Errorf("%s: the error %q repeats a URL", tt.name, err)
		}
	}
}
