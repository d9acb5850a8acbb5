package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// Lock is a project's images as one successful deploy left them: what a
// compose override needs to bring the same containers up without
// docker-forge.
type Lock struct {
	Project string `json:"project"`
	// Deploy is the deploy the lock reproduces.
	Deploy forge.Deploy `json:"deploy"`
	// ConfigFiles are the project's compose files, which the lock overrides.
	ConfigFiles []string        `json:"config_files"`
	Services    []LockedService `json:"services"`
	// Unpinned are services of the compose file that no successful deploy
	// up to Deploy recorded: the lock leaves them as the file has them.
	Unpinned []string `json:"unpinned,omitempty"`
}

// LockedService is one service's image in a Lock.
type LockedService struct {
	Service string `json:"service"`
	// Image is repo@digest, or a local image ID.
	Image string `json:"image"`
	// Local marks Image as a local image ID: it exists only on the engine
	// that built, imported or loaded it.
	Local bool `json:"local,omitempty"`
	// Was is the image as the compose file names it (or the tag forge built).
	Was string `json:"was,omitempty"`
	// From is the deploy that moved the service to Image.
	From uint64 `json:"from"`
}

// Lock returns the images of project's services as of deploy id, or of its
// newest successful deploy when id is 0: each service at the digest (or
// local image ID) of the newest successful deploy up to then that ran it.
func (d *Dispatcher) Lock(ctx context.Context, project string, id uint64) (Lock, error) {
	ref, err := d.locate(ctx, forge.ProjectRef{Name: project})
	if err != nil {
		return Lock{}, fmt.Errorf("lock %s: %w", project, err)
	}
	hist, err := d.led.History(project, 0)
	if err != nil {
		return Lock{}, fmt.Errorf("lock %s: %w", project, err)
	}
	at, err := lockedDeploy(project, id, hist)
	if err != nil {
		return Lock{}, err
	}
	p, err := d.eng.LoadProject(ctx, ref)
	if err != nil {
		return Lock{}, fmt.Errorf("lock %s: %s: %w", project, reasonLoad, err)
	}
	out := Lock{Project: project, Deploy: at, ConfigFiles: p.Ref.ConfigFiles, Services: []LockedService{}}
	for _, s := range p.Services {
		if ls, ok := lockedService(hist, s.Name, at.ID); ok {
			out.Services = append(out.Services, ls)
		} else {
			out.Unpinned = append(out.Unpinned, s.Name)
		}
	}
	slices.SortFunc(out.Services, func(a, b LockedService) int { return strings.Compare(a.Service, b.Service) })
	return out, nil
}

// lockedDeploy is the deploy a lock reproduces: id, which must be a
// successful deploy of project, or the newest successful one (newest-first
// hist).
func lockedDeploy(project string, id uint64, hist []forge.Deploy) (forge.Deploy, error) {
	for _, h := range hist {
		switch {
		case id == 0 && h.Status == forge.StatusSucceeded:
			return h, nil
		case id != 0 && h.ID == id && h.Status != forge.StatusSucceeded:
			return forge.Deploy{}, fmt.Errorf("lock %s: deploy %d %s; lock a successful deploy (see docker forge history %s)", project, id, h.Status, project)
		case id != 0 && h.ID == id:
			return h, nil
		}
	}
	if id == 0 {
		return forge.Deploy{}, fmt.Errorf("lock %s: %w", project, notRecorded("no successful deploy is recorded"))
	}
	return forge.Deploy{}, fmt.Errorf("lock %s: %w", project, notRecorded(fmt.Sprintf("no deploy %d of %s is recorded (see docker forge history %s)", id, project, project)))
}

// notRecorded is ledger.ErrNotFound in words for the person who asked: it
// matches it (a 404 from the API), without the package's own prefix.
type notRecorded string

func (e notRecorded) Error() string        { return string(e) }
func (e notRecorded) Is(target error) bool { return target == ledger.ErrNotFound }

// lockedService is what service ran after the newest successful deploy in
// hist (newest first) up to id that recorded it.
func lockedService(hist []forge.Deploy, service string, id uint64) (LockedService, bool) {
	for _, h := range hist {
		if h.ID > id || h.Status != forge.StatusSucceeded {
			continue
		}
		s, ok := h.Service(service)
		if !ok || s.Digest == "" {
			continue
		}
		ls := LockedService{Service: service, Image: s.Digest, Local: s.ByImageID(), Was: s.Image, From: h.ID}
		if !ls.Local {
			repo := s.Pinned[:max(strings.LastIndexByte(s.Pinned, '@'), 0)]
			if repo == "" {
				if named, err := reference.ParseNormalizedNamed(s.Image); err == nil {
					repo = reference.FamiliarName(named)
				}
			}
			ls.Image = repo + "@" + s.Digest
		}
		return ls, true
	}
	return LockedService{}, false
}
