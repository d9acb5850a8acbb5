package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/snapshot"
)

// Option tunes New.
type Option func(*Engine)

// WithMasker makes Up return each deployed service's snapshot, its secrets
// masked by m; without one Up returns none.
func WithMasker(m *snapshot.Masker) Option { return func(e *Engine) { e.masker = m } }

// ErrIncompleteSnapshot is forge.ErrIncompleteSnapshot.
var ErrIncompleteSnapshot = forge.ErrIncompleteSnapshot

// snapshotOf is a service's configuration as compose brings it up (image
// pinned), as JSON with its secrets masked: the values of variables and
// labels whose names look secret or that come from an env_file, and the
// passwords of URLs wherever they are. Named volumes are written by the
// name the engine knows them by.
func (e *Engine) snapshotOf(p *types.Project, s types.ServiceConfig) ([]byte, error) {
	m, err := toMap(s)
	if err != nil {
		return nil, err
	}
	fromFiles := envFileKeys(s)
	maskMap(m, "environment", func(k string) bool { return e.masker.SecretName(k) || fromFiles[k] }, e.masker)
	maskMap(m, "labels", e.masker.SecretName, e.masker)
	m = maskURLs(m, e.masker).(map[string]any)
	for _, v := range list(m["volumes"]) {
		if vol, ok := v.(map[string]any); ok && vol["type"] == types.VolumeTypeVolume {
			if src, _ := vol["source"].(string); src != "" && p.Volumes[src].Name != "" {
				vol["source"] = p.Volumes[src].Name
			}
		}
	}
	return json.Marshal(m) // map keys sorted: one form for one configuration
}

// toMap is s as the JSON compose-go writes of it, decoded generically.
func toMap(s types.ServiceConfig) (map[string]any, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// envFileKeys are the variables a service's env_files define: their
// values are secrets whatever their names.
func envFileKeys(s types.ServiceConfig) map[string]bool {
	out := map[string]bool{}
	for _, f := range s.EnvFiles {
		if vars, err := dotenv.Read(f.Path); err == nil {
			for k := range vars {
				out[k] = true
			}
		}
	}
	return out
}

// maskMap masks the values of m[field] (a map) whose keys are secret, or
// that hold URL credentials.
func maskMap(m map[string]any, field string, secret func(string) bool, mk *snapshot.Masker) {
	vals, _ := m[field].(map[string]any)
	for k, v := range vals {
		s, ok := v.(string)
		if ok && (secret(k) || snapshot.HasURLCredentials(s)) {
			vals[k] = mk.Hide(s)
		}
	}
}

// maskURLs hides the passwords of URLs in every string of v.
func maskURLs(v any, mk *snapshot.Masker) any {
	switch x := v.(type) {
	case string:
		if snapshot.HasURLCredentials(x) && !snapshot.IsMasked(x) {
			return mk.HideURLCredentials(x)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = maskURLs(e, mk)
		}
	case []any:
		for i, e := range x {
			x[i] = maskURLs(e, mk)
		}
	}
	return v
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// restoreService is cur (the service as the compose file has it now) put
// back to the configuration of a snapshot: every field from the snapshot,
// its secrets from cur where the hashes say they are the secrets of then
// (a warning names those whose value changed since). A secret cur lacks, a
// password in a URL, a network or volume the project no longer declares:
// ErrIncompleteSnapshot.
func (e *Engine) restoreService(p *types.Project, cur types.ServiceConfig, raw []byte) (types.ServiceConfig, []string, error) {
	if e.masker == nil {
		return cur, nil, fmt.Errorf("%w: no masking key", ErrIncompleteSnapshot)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return cur, nil, fmt.Errorf("%w: %w", ErrIncompleteSnapshot, err)
	}
	now, err := toMap(cur)
	if err != nil {
		return cur, nil, err
	}
	var warnings []string
	for _, field := range []string{"environment", "labels"} {
		vals, _ := m[field].(map[string]any)
		curVals, _ := now[field].(map[string]any)
		for k, v := range vals {
			masked, _ := v.(string)
			if !snapshot.IsMasked(masked) {
				continue
			}
			value, ok := curVals[k].(string)
			if !ok {
				return cur, nil, fmt.Errorf("%w: %s.%s is a secret the compose file no longer has", ErrIncompleteSnapshot, field, k)
			}
			if !e.masker.Same(masked, value) {
				warnings = append(warnings, fmt.Sprintf("service %s: %s.%s is a secret whose value changed since; the current value is used", cur.Name, field, k))
			}
			vals[k] = value
		}
	}
	if hasMarker(m) {
		return cur, nil, fmt.Errorf("%w: a URL's password cannot be taken from the compose file", ErrIncompleteSnapshot)
	}
	byName := map[string]string{}
	for key, v := range p.Volumes {
		byName[v.Name] = key
	}
	for _, v := range list(m["volumes"]) {
		if vol, ok := v.(map[string]any); ok && vol["type"] == types.VolumeTypeVolume {
			src, _ := vol["source"].(string)
			if src == "" {
				continue // anonymous
			}
			key, ok := byName[src]
			if !ok {
				return cur, nil, fmt.Errorf("%w: volume %s is no longer declared", ErrIncompleteSnapshot, src)
			}
			vol["source"] = key
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return cur, nil, err
	}
	var out types.ServiceConfig
	if err := json.Unmarshal(b, &out); err != nil {
		return cur, nil, fmt.Errorf("%w: %w", ErrIncompleteSnapshot, err)
	}
	for n := range out.Networks {
		if _, ok := p.Networks[n]; !ok {
			return cur, nil, fmt.Errorf("%w: network %s is no longer declared", ErrIncompleteSnapshot, n)
		}
	}
	// What the JSON does not carry is the project's business.
	out.Name, out.CustomLabels, out.Extensions, out.Build = cur.Name, cur.CustomLabels, cur.Extensions, nil
	return out, warnings, nil
}

func hasMarker(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, snapshot.Marker)
	case map[string]any:
		return slices.ContainsFunc(slices.Collect(maps.Values(x)), hasMarker)
	case []any:
		return slices.ContainsFunc(x, hasMarker)
	}
	return false
}

// RunningFields are the fields a running container can be compared on.
var RunningFields = []string{"image", "command", "entrypoint", "environment", "labels", "ports", "volumes", "user", "working_dir", "restart"}

// RunningSnapshots reads, per service, what its container was created
// with, in the form of a snapshot (RunningFields only): what the image
// brings (its environment, command, labels) is left out, as it is of a
// compose file. secret tells which variables and labels to mask.
func (e *Engine) RunningSnapshots(ctx context.Context, project string, secret func(service, name string) bool) (map[string][]byte, error) {
	items, err := e.serviceContainers(ctx, project)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, c := range items {
		svc := c.Labels[forge.ComposeServiceLabel]
		if _, ok := out[svc]; ok {
			continue
		}
		in, err := e.cli.Client().ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", shortID(c.ID), classify(err))
		}
		img, err := e.cli.Client().ImageInspect(ctx, in.Container.Image)
		if err != nil {
			return nil, fmt.Errorf("inspect image of %s: %w", shortID(c.ID), classify(err))
		}
		cfg, host := in.Container.Config, in.Container.HostConfig
		var s types.ServiceConfig
		s.Image = cfg.Image
		if imgCfg := img.Config; imgCfg != nil {
			if !slices.Equal(cfg.Cmd, imgCfg.Cmd) {
				s.Command = types.ShellCommand(cfg.Cmd)
			}
			if !slices.Equal(cfg.Entrypoint, imgCfg.Entrypoint) {
				s.Entrypoint = types.ShellCommand(cfg.Entrypoint)
			}
			if cfg.WorkingDir != imgCfg.WorkingDir {
				s.WorkingDir = cfg.WorkingDir
			}
			if cfg.User != imgCfg.User {
				s.User = cfg.User
			}
			s.Environment = types.MappingWithEquals{}
			for _, kv := range cfg.Env {
				if slices.Contains(imgCfg.Env, kv) {
					continue
				}
				k, v, _ := strings.Cut(kv, "=")
				s.Environment[k] = &v
			}
			s.Labels = types.Labels{}
			for k, v := range cfg.Labels {
				if !strings.HasPrefix(k, "com.docker.compose.") && imgCfg.Labels[k] != v {
					s.Labels[k] = v
				}
			}
		}
		if host != nil {
			if r := string(host.RestartPolicy.Name); r != "" && r != "no" {
				s.Restart = r
			}
			for port, binds := range host.PortBindings {
				target, _ := strconv.ParseUint(port.Port(), 10, 32)
				for _, b := range binds {
					s.Ports = append(s.Ports, types.ServicePortConfig{Target: uint32(target), Published: b.HostPort, Protocol: string(port.Proto()), HostIP: b.HostIP.String()})
				}
			}
		}
		for _, mnt := range in.Container.Mounts {
			v := types.ServiceVolumeConfig{Type: string(mnt.Type), Target: mnt.Destination, ReadOnly: !mnt.RW, Source: mnt.Source}
			if mnt.Type == "volume" {
				v.Source = mnt.Name
				if len(mnt.Name) == 64 && !strings.ContainsAny(mnt.Name, "_-.") {
					v.Source = "" // anonymous
				}
			}
			s.Volumes = append(s.Volumes, v)
		}
		m, err := toMap(s)
		if err != nil {
			return nil, err
		}
		if e.masker != nil {
			maskMap(m, "environment", func(k string) bool { return e.masker.SecretName(k) || secret(svc, "environment."+k) }, e.masker)
			maskMap(m, "labels", func(k string) bool { return e.masker.SecretName(k) || secret(svc, "labels."+k) }, e.masker)
			m = maskURLs(m, e.masker).(map[string]any)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		out[svc] = b
	}
	return out, nil
}
