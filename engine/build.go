package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// source reads the project's x-forge extension: where its files come from.
func source(p *types.Project) (*forge.Source, error) {
	ext, ok := p.Extensions[forge.ExtensionKey]
	if !ok || ext == nil {
		return nil, nil
	}
	b, err := json.Marshal(ext)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", forge.ExtensionKey, err)
	}
	var src forge.Source
	if err := json.Unmarshal(b, &src); err != nil {
		return nil, fmt.Errorf("%s: want repository, branch, path and tags: %w", forge.ExtensionKey, err)
	}
	switch {
	case src.Repository == "":
		return nil, nil // x-forge holds other project settings, no git source
	case src.Branch == "":
		return nil, fmt.Errorf("%s: branch is required with repository", forge.ExtensionKey)
	}
	return &src, nil
}

// notifyOf reads the notification URLs of the project's x-forge:
//
//	x-forge:
//	  notify:
//	    - ntfy://ntfy.example.com/shop
func notifyOf(p *types.Project) ([]string, error) {
	ext, ok := p.Extensions[forge.ExtensionKey].(map[string]any)
	if !ok || ext["notify"] == nil {
		return nil, nil
	}
	list, ok := ext["notify"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s: notify: want a list of notification URLs", forge.ExtensionKey)
	}
	var out []string
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: notify: want a list of notification URLs", forge.ExtensionKey)
		}
		out = append(out, s)
	}
	return out, nil
}

// buildOf reduces a service's build: section to its context and a hash of
// the whole definition.
func buildOf(b *types.BuildConfig) (*forge.ServiceBuild, error) {
	if b == nil {
		return nil, nil
	}
	def, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(def)
	out := &forge.ServiceBuild{Context: b.Context, Hash: hex.EncodeToString(sum[:8])}
	// What the build reads from outside its context: a Dockerfile beside
	// it, local additional contexts.
	if b.Dockerfile != "" && b.DockerfileInline == "" {
		df := b.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context, df)
		}
		out.Inputs = append(out.Inputs, df)
	}
	for _, c := range b.AdditionalContexts {
		if filepath.IsAbs(c) {
			out.Inputs = append(out.Inputs, c)
		}
	}
	return out, nil
}

// Build builds services of the project at ref through the compose SDK, each
// tagged as tags[service] says, and returns each one's image ID. The
// engine's classic builder is used when no buildx plugin is installed.
func (e *Engine) Build(ctx context.Context, ref forge.ProjectRef, tags map[string]string) (map[string]string, error) {
	if ref.Stack {
		return nil, fmt.Errorf("build %s: a swarm stack runs registry images: build and push them, then deploy", ref.Name)
	}
	names := make([]string, 0, len(tags))
	for s := range tags {
		names = append(names, s)
	}
	slices.Sort(names)
	p, err := e.load(ctx, ref, names)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		s, ok := p.Services[name]
		if !ok || s.Build == nil {
			return nil, fmt.Errorf("build %s: service %q has no build section", ref.Name, name)
		}
		s.Image = tags[name]
		p.Services[name] = s
	}
	if err := e.compose.Build(ctx, p, api.BuildOptions{Services: names, Quiet: true}); err != nil {
		return nil, fmt.Errorf("build %s %v: %w", ref.Name, names, classify(err))
	}
	ids := map[string]string{}
	for _, name := range names {
		id, err := e.ImageID(ctx, tags[name])
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", ref.Name, err)
		}
		ids[name] = id
	}
	return ids, nil
}

// ImageID returns the ID of a local image, or "" when the engine has none
// by that reference.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	res, err := e.cli.Client().ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("inspect image %s: %w", ref, classify(err))
	}
	return res.ID, nil
}

// LocalImage looks ref up among the engine's images: its ID ("" when the
// engine has none by that reference), and whether a registry copy of it is
// known, that is whether it was pulled from or pushed to a registry of its
// repository (a repo digest of the same name). An image built, imported or
// loaded on the engine and never pushed has none.
func (e *Engine) LocalImage(ctx context.Context, ref string) (string, bool, error) {
	res, err := e.cli.Client().ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("inspect image %s: %w", ref, classify(err))
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return res.ID, false, nil
	}
	for _, rd := range res.RepoDigests {
		if n, err := reference.ParseNormalizedNamed(rd); err == nil && n.Name() == named.Name() {
			return res.ID, true, nil
		}
	}
	return res.ID, false, nil
}

// RemoveImage removes a local image by reference, and the layers only it
// used; an image a container still uses is kept (the engine refuses), and
// one already gone is no error. An image named by its ID is removed only
// when no tag names it any more: removing it by ID would take the tag (and
// the image a person still uses by that tag) with it.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	if forge.IsImageID(ref) {
		res, err := e.cli.Client().ImageInspect(ctx, ref)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspect image %s: %w", shortID(ref), classify(err))
		}
		if len(res.RepoTags) > 0 {
			return nil
		}
	}
	if _, err := e.cli.Client().ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, classify(err))
	}
	return nil
}
