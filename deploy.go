package forge

import (
	"strings"
	"time"
)

// Reason says why a deploy ran.
type Reason string

// The reasons for a deploy.
const (
	ReasonPush     Reason = "push"
	ReasonManual   Reason = "manual"
	ReasonRollback Reason = "rollback"
)

// Status is where a deploy stands.
type Status string

// The statuses of a deploy. Queued and Running are transient; the others are
// final.
const (
	StatusQueued      Status = "queued"
	StatusRunning     Status = "running"
	StatusSucceeded   Status = "succeeded"
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted"
)

// Final reports whether a deploy with this status will not change again.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusInterrupted
}

// Trigger names what started a deploy.
type Trigger struct {
	Provider string `json:"provider,omitempty"`
	Delivery string `json:"delivery,omitempty"`
	User     string `json:"user,omitempty"`
}

// ServiceDeploy is one service's part in a deploy.
type ServiceDeploy struct {
	Service string `json:"service"`
	// Image is the reference as written in the compose file (repo:tag).
	Image string `json:"image"`
	// Pinned is the repo@digest reference handed to compose.
	Pinned string `json:"pinned,omitempty"`
	// Digest is what the container runs after the deploy, read back from the engine.
	Digest string `json:"digest,omitempty"`
	// Previous is the digest the service ran before.
	Previous string `json:"previous,omitempty"`
	// Changed reports whether the container was recreated.
	Changed bool `json:"changed"`
	// Requested is the digest the trigger asked for (a push's digest, a
	// rollback's target); empty means the tag is resolved when the deploy
	// runs. With Image it is what a queued deploy needs to run after a
	// restart.
	Requested string `json:"requested,omitempty"`
	// Built marks a service built from the project's git checkout: Image is
	// then the tag forge gave it (<project>-<service>:<commit>), Digest and
	// Previous image IDs, and BuildHash the build definition it was built
	// from.
	Built     bool   `json:"built,omitempty"`
	BuildHash string `json:"build_hash,omitempty"`
	// Local marks a service pinned by its local image ID (an image built,
	// imported or loaded on the engine, with no registry copy): Pinned,
	// Digest and Previous are then image IDs.
	Local bool `json:"local,omitempty"`
	// Enabled reports whether the service carries forge.enable=true, that
	// is whether pushes and polls may move it.
	Enabled bool `json:"forge_enabled,omitempty"`
	// Why says why the container was recreated: WhyDigest, WhyImage,
	// WhyConfig, WhyCreated, or several of them.
	Why []string `json:"why,omitempty"`
	// Snapshot names the service's whole configuration as the deploy
	// brought it up (content-addressed, secrets masked; see the ledger's
	// snapshots), ConfigHash the compose config hash its container carries
	// afterwards (what drift is checked against), and Summary what changed
	// in its configuration since the deploy before ("digest, 2 env").
	Snapshot   string `json:"snapshot,omitempty"`
	ConfigHash string `json:"config_hash,omitempty"`
	Summary    string `json:"config_summary,omitempty"`
	// RequestedConfig is the snapshot a rollback restores the service to;
	// empty restores the image only.
	RequestedConfig string `json:"requested_config,omitempty"`
}

// Why a deploy recreated a service's container.
const (
	// WhyDigest: the service moved to another registry digest.
	WhyDigest = "new digest"
	// WhyImage: the service moved to another local image (a new build).
	WhyImage = "new image"
	// WhyConfig: its configuration other than the image (environment,
	// command, ports, volumes, labels, ...) differs from what its container
	// was created with.
	WhyConfig = "config changed"
	// WhyCreated: the service had no container before.
	WhyCreated = "created"
)

// ByImageID reports whether the service is pinned by a local image ID
// rather than a registry digest (a local image, or one forge built).
func (s ServiceDeploy) ByImageID() bool { return s.Local || s.Built }

// Target is the digest (or, by image ID, the image ID) the deploy moves the
// service to; empty before the service is pinned.
func (s ServiceDeploy) Target() string {
	if s.ByImageID() {
		return s.Pinned
	}
	if i := strings.LastIndexByte(s.Pinned, '@'); i >= 0 {
		return s.Pinned[i+1:]
	}
	return ""
}

// Deploy is one run of the dispatcher against one compose project, as the
// ledger records it.
type Deploy struct {
	ID      uint64 `json:"id"`
	Project string `json:"project"`
	// Engine names the Docker engine (the docker context) the project runs
	// on: projects are keyed by engine and name.
	Engine   string          `json:"engine,omitempty"`
	Reason   Reason          `json:"reason"`
	Trigger  Trigger         `json:"trigger"`
	Services []ServiceDeploy `json:"services"`
	Status   Status          `json:"status"`
	// Error is a generic reason, safe to show and store: never the raw error.
	Error string `json:"error,omitempty"`
	// Warnings are things a person should know about a deploy that
	// succeeded (a restored secret whose value changed since); they name
	// keys, never values.
	Warnings []string `json:"warnings,omitempty"`
	// RollbackOf is the deploy whose digests a rollback replayed.
	RollbackOf uint64 `json:"rollback_of,omitempty"`
	// Reverts is the failed deploy an automatic rollback undid, and
	// RevertedBy, on that failed deploy, the rollback that undid it.
	Reverts uint64 `json:"reverts,omitempty"`
	// Resumes is the interrupted deploy this one converges again.
	Resumes uint64 `json:"resumes,omitempty"`
	// Commit is the git commit a git-sourced project was deployed at (while
	// queued: the commit asked for), PreviousCommit the one it ran before.
	Commit         string    `json:"commit,omitempty"`
	PreviousCommit string    `json:"previous_commit,omitempty"`
	RevertedBy     uint64    `json:"reverted_by,omitempty"`
	Queued         time.Time `json:"queued"`
	Started        time.Time `json:"started,omitzero"`
	Finished       time.Time `json:"finished,omitzero"`
	// Phases are how long each part of the deploy took.
	Phases Phases `json:"phases,omitzero"`
}

// ConfigSummary is what the deploy changed in its services' configurations,
// in one line: "web: digest, 2 env; worker: command".
func (d Deploy) ConfigSummary() string {
	var parts []string
	for _, s := range d.Services {
		if s.Summary != "" {
			parts = append(parts, s.Service+": "+s.Summary)
		}
	}
	return strings.Join(parts, "; ")
}

// Service returns the deploy's entry for the named service.
func (d Deploy) Service(name string) (ServiceDeploy, bool) {
	for _, s := range d.Services {
		if s.Service == name {
			return s, true
		}
	}
	return ServiceDeploy{}, false
}

// QueuedDeploy is what a webhook answer says about a deploy it queued.
type QueuedDeploy struct {
	ID       uint64   `json:"id"`
	Project  string   `json:"project"`
	Engine   string   `json:"engine,omitempty"`
	Services []string `json:"services"`
	// Commit is the git commit a git-sourced project is to be deployed at.
	Commit string `json:"commit,omitempty"`
	Status Status `json:"status"`
}

// UpRequest asks the engine to bring a project's services up.
type UpRequest struct {
	Ref ProjectRef
	// Pins is the image each target service runs: repo@digest, or a local
	// image ID.
	Pins map[string]string
	// Whole brings every service of the project up (a first deploy), not
	// only the pinned ones.
	Whole bool
	// Restore puts services back to a snapshot's configuration (a
	// rollback), its secrets taken from the compose file as it is now.
	Restore map[string][]byte
}

// UpResult is what the engine says of an Up.
type UpResult struct {
	// ConfigChanged are the targets whose configuration other than the
	// image differed from what their container was created with.
	ConfigChanged map[string]bool
	// Snapshots are the targets' configurations as brought up, secrets
	// masked; none when the engine keeps no snapshots.
	Snapshots map[string][]byte
	// Warnings name what a person should know (a restored secret that
	// changed since).
	Warnings []string
	// Pull and Recreate are how long the engine took to pull the images it
	// lacked, and to recreate and start the containers.
	Pull, Recreate time.Duration
}
