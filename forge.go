// Package forge is docker-forge's shared vocabulary: the events that webhooks
// produce, the deploys that the dispatcher runs and the ledger records, and the
// label names that users put on their compose services. It uses the standard
// library only, so every other package can depend on it.
package forge

import (
	"errors"
	"strings"
	"time"
)

// ErrEngineUnavailable marks errors caused by a Docker engine that cannot be
// reached; the engine wraps it, the dispatcher and the API classify by it.
var ErrEngineUnavailable = errors.New("docker engine unreachable")

// ErrIncompleteSnapshot marks a snapshot that cannot be brought up again: a
// secret the compose file no longer has, a network or volume it no longer
// declares.
var ErrIncompleteSnapshot = errors.New("the configuration cannot be restored")

// ErrNoContainer marks a service that has no container (to read logs of).
var ErrNoContainer = errors.New("service has no container")

// Version is the docker-forge release, set at build time with
// -ldflags "-X github.com/docker-forge/docker-forge.Version=…".
var Version = "0.1.0-dev"

// Service-level compose labels that opt a service in and tune its updates.
const (
	// LabelEnable opts a service in when set to "true".
	LabelEnable = "forge.enable"
	// LabelPolicy chooses which pushes a service follows; see Policy.
	LabelPolicy = "forge.policy"
	// LabelRollback is "auto" or "manual": whether a deploy whose health
	// gate fails is rolled back at once. The default is auto for services
	// with a healthcheck, manual for the others.
	LabelRollback = "forge.rollback"
	// LabelHealthTimeout bounds the health gate after a deploy (a Go
	// duration, default 60s).
	LabelHealthTimeout = "forge.health-timeout"
	// LabelSettle is how long a service without a healthcheck must stay
	// running to pass the gate (a Go duration, default 3s).
	LabelSettle = "forge.settle"
	// LabelPoll schedules a registry check of the service's tag, for
	// registries that send no (or lose) notifications: a robfig/cron spec
	// such as "@every 5m" or "*/10 * * * *". Off when unset.
	LabelPoll = "forge.poll"
)

// ProviderPoll names events found by polling a registry rather than pushed
// by a webhook.
const ProviderPoll = "poll"

// PolicyDigest is the default update policy: the same tag, a new digest.
const PolicyDigest = "digest"

// Labels that docker compose puts on every container it creates; forge reads
// them to discover projects without any registration.
const (
	ComposeProjectLabel     = "com.docker.compose.project"
	ComposeServiceLabel     = "com.docker.compose.service"
	ComposeWorkingDirLabel  = "com.docker.compose.project.working_dir"
	ComposeConfigFilesLabel = "com.docker.compose.project.config_files"
	ComposeEnvFileLabel     = "com.docker.compose.project.environment_file"
	ComposeOneoffLabel      = "com.docker.compose.oneoff"
	// StackNamespaceLabel is what docker stack deploy puts on every swarm
	// service, network, secret and config of a stack: its name.
	StackNamespaceLabel = "com.docker.stack.namespace"
)

// ErrRolledBack marks an update that the orchestrator (a swarm service's
// update_config failure_action) rolled back itself: the deploy failed, and
// what runs is what ran before.
var ErrRolledBack = errors.New("the swarm rolled the update back")

// ProjectRef says where a compose project's model lives: enough to load it
// again the way compose did.
type ProjectRef struct {
	Name        string   `json:"name"`
	WorkingDir  string   `json:"working_dir,omitempty"`
	ConfigFiles []string `json:"config_files,omitempty"`
	EnvFiles    []string `json:"env_files,omitempty"`
	Profiles    []string `json:"profiles,omitempty"`
	// Stack marks a swarm stack (services labelled
	// com.docker.stack.namespace) rather than a compose project; its
	// ConfigFiles, when set, are the stack file it was deployed from.
	Stack bool `json:"stack,omitempty"`
}

// Project is a loaded compose project, reduced to what forge decides on.
type Project struct {
	Ref      ProjectRef `json:"ref"`
	Services []Service  `json:"services"`
	// Source is the git repository the project deploys from, from its
	// compose file's top-level x-forge extension; nil when it has none.
	Source *Source `json:"source,omitempty"`
	// Notify are the notification URLs (shoutrrr) the project's x-forge
	// names, told of its deploys besides the daemon's own. They carry
	// credentials: never shown or logged.
	Notify []string `json:"-"`
}

// ExtensionKey is the compose file's top-level extension forge reads.
const ExtensionKey = "x-forge"

// Source is a project's git source, declared in the compose file (an
// x-forge without repository declares none):
//
//	x-forge:
//	  repository: https://git.example.com/acme/shop.git
//	  branch: main
//	  path: deploy      # the compose file's directory in the repository
//	  tags: false       # whether a tag push deploys the commit it names
type Source struct {
	Repository string `json:"repository" yaml:"repository"`
	Branch     string `json:"branch" yaml:"branch"`
	Path       string `json:"path,omitempty" yaml:"path,omitempty"`
	Tags       bool   `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// ServiceBuild is what forge needs of a service's build: section.
type ServiceBuild struct {
	// Context is the build context's absolute path.
	Context string `json:"context"`
	// Hash digests the build definition (dockerfile, args, target, ...), so
	// a change to it rebuilds even when no file in the context changed.
	Hash string `json:"hash"`
	// Inputs are other paths the build reads (its Dockerfile, additional
	// contexts), which may lie outside Context.
	Inputs []string `json:"inputs,omitempty"`
}

// Service is one compose service: its image reference as written in the
// compose file and its labels.
type Service struct {
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
	// DependsOn names the services this one depends on.
	DependsOn []string `json:"depends_on,omitempty"`
	// Build is the service's build: section; nil for an image-only service.
	Build *ServiceBuild `json:"build,omitempty"`
}

// Enabled reports whether the service opted in with forge.enable=true.
func (s Service) Enabled() bool { return s.Labels[LabelEnable] == "true" }

// Policy returns the service's update policy, PolicyDigest when unset.
func (s Service) Policy() string {
	if p := s.Labels[LabelPolicy]; p != "" {
		return p
	}
	return PolicyDigest
}

// Health is a service container's state as the health gate reads it.
type Health struct {
	Running bool `json:"running"`
	// Status is the healthcheck's: "starting", "healthy", "unhealthy", or
	// empty for a container without a healthcheck.
	Status    string    `json:"status,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Restarts  int       `json:"restarts"`
	// State is the engine's word: running, exited, restarting, ...
	State string `json:"state"`
}

// IsImageID reports whether ref is a local image ID (sha256:<64 hex>), as
// forge pins a service whose image has no registry copy, rather than an
// image name.
func IsImageID(ref string) bool {
	hex, ok := strings.CutPrefix(ref, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Running describes what a service's container runs right now, as read from
// the engine.
type Running struct {
	Service     string `json:"service"`
	ContainerID string `json:"container_id"`
	Image       string `json:"image"`
	ImageID     string `json:"image_id"`
	Digest      string `json:"digest,omitempty"`
	State       string `json:"state"`
	// ConfigHash is the compose config hash the container was created
	// with (its com.docker.compose.config-hash label).
	ConfigHash string `json:"config_hash,omitempty"`
}
