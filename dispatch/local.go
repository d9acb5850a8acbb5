package dispatch

import (
	"context"
	"fmt"

	"github.com/docker-forge/docker-forge"
)

// target is where a deploy moves one service.
type target struct {
	// ref is what the service is brought up with: repo@digest, or a local
	// image ID; set from the build when build is not empty.
	ref string
	// local marks ref as a local image ID: an image built, imported or
	// loaded on the engine, with no registry copy.
	local bool
	// build is the tag to build the service as first (a build: section).
	build string
}

// reasonResolveNoLocal is reasonResolve for an image the engine has no
// copy of either: pulled never, built or imported never.
const reasonResolveNoLocal = reasonResolve + ", and the engine has no image by that name"

// reasonLocalGone is recorded when a local image to return to is gone.
const reasonLocalGone = "local image %s%s is no longer on the engine: build or load it again (docker build, docker load), then retry"

// pinService decides where a deploy moves service s, whose image (with the
// tag a policy chose) is image, as `compose up -d` would find it:
//
//   - a digest the deploy asks for (a push, a poll, a rollback) as pin does;
//   - a build: section builds (with build, or when its image is missing)
//     or runs the local image, pinned by its ID;
//   - an image the compose file pins by digest runs as written;
//   - an image the engine has and no registry copy of is pinned by its
//     local ID, with no registry asked;
//   - otherwise the tag is resolved in the registry.
func (d *Dispatcher) pinService(ctx context.Context, project string, s forge.Service, image string, w want, build bool) (target, string, error) {
	switch {
	case w.local:
		return d.pinLocal(ctx, w.digest, w.image)
	case w.digest != "":
		ref, reason, err := d.pin(ctx, image, w)
		return target{ref: ref}, reason, err
	case s.Build != nil:
		tag := image
		if tag == "" {
			tag = project + "-" + s.Name // compose's name for a built image
		}
		if !build {
			id, _, err := d.eng.LocalImage(ctx, tag)
			if err != nil {
				return target{}, d.engineReason(err, reasonRunning), err
			}
			if id != "" {
				return target{ref: id, local: true}, "", nil
			}
		}
		return target{local: true, build: tag}, "", nil
	case forge.IsImageID(image):
		return d.pinLocal(ctx, image, "")
	case pinnedByDigest(image):
		return target{ref: image}, "", nil // the user's own pin
	}
	id, registry, err := d.eng.LocalImage(ctx, image)
	if err != nil {
		return target{}, d.engineReason(err, reasonRunning), err
	}
	if id != "" && !registry {
		return target{ref: id, local: true}, "", nil
	}
	ref, reason, err := d.pin(ctx, image, w)
	if reason == reasonResolve && id == "" {
		reason = reasonResolveNoLocal
	}
	return target{ref: ref}, reason, err
}

// pinLocal pins a local image by ID, once the engine is seen to have it.
func (d *Dispatcher) pinLocal(ctx context.Context, id, name string) (target, string, error) {
	got, err := d.eng.ImageID(ctx, id)
	if err != nil {
		return target{}, d.engineReason(err, reasonRunning), err
	}
	if got == "" {
		if name != "" {
			name = " (" + name + ")"
		}
		return target{}, fmt.Sprintf(reasonLocalGone, shortImageID(id), name), fmt.Errorf("local image %s: not on the engine", id)
	}
	return target{ref: got, local: true}, "", nil
}

func shortImageID(id string) string {
	return id[:min(len(id), len("sha256:")+12)]
}

// removeOldImages removes the images forge built for a project's older
// deploys, keeping those that the newest keepImages successful deploys (dep
// among them) ran: each build would otherwise leave an image behind. For a
// git-sourced project they are its git deploys' images, each tagged with
// its commit; for another project the image IDs its builds left (the tag
// moved on to the newer build). An image a container still uses, or one a
// tag still names, stays; a rollback to a deploy whose image is gone builds
// it again (git) or says how to bring it back.
func (d *Dispatcher) removeOldImages(ctx context.Context, dep forge.Deploy, hist []forge.Deploy) {
	git := dep.Commit != ""
	ref := func(s forge.ServiceDeploy) string {
		if git {
			return s.Image
		}
		return s.Digest
	}
	keep := map[string]bool{}
	kept := 0
	for i, h := range append([]forge.Deploy{dep}, hist...) {
		if i > 0 && h.ID == dep.ID {
			continue // dep's own record, read while it runs
		}
		if h.Status != forge.StatusSucceeded && h.ID != dep.ID || git && h.Commit == "" {
			continue
		}
		if kept++; kept > d.keepImages {
			break
		}
		for _, s := range h.Services {
			if s.ByImageID() {
				keep[ref(s)] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, h := range hist {
		if git != (h.Commit != "") {
			continue
		}
		for _, s := range h.Services {
			r := ref(s)
			if !s.Built || r == "" || keep[r] || seen[r] {
				continue
			}
			seen[r] = true
			if err := d.eng.RemoveImage(ctx, r); err != nil {
				d.log.Debug("old image not removed", "project", dep.Project, "image", r, "error", d.scrub.String(err.Error()))
			}
		}
	}
}
