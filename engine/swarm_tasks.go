package engine

import (
	"fmt"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/docker-forge/docker-forge"
)

// What a stack service runs, and how well, is read from its tasks: pure
// functions of the service and its task list, so tests drive them with
// recorded values.

// current reports whether a task runs the service's spec as it is now (not
// one an update or a rollback is replacing): the same image, and the same
// forced-update counter.
func current(s swarm.Service, t swarm.Task) bool {
	want, got := s.Spec.TaskTemplate.ContainerSpec, t.Spec.ContainerSpec
	if want == nil || got == nil {
		return false
	}
	return want.Image == got.Image && s.Spec.TaskTemplate.ForceUpdate == t.Spec.ForceUpdate
}

func taskRunning(t swarm.Task) bool {
	return t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning
}

// desiredTasks is how many tasks a service is to run: its replicas, or, in
// global mode, one per node that is to run one, and at least one: a global
// service whose tasks are not scheduled yet has not converged.
func desiredTasks(s swarm.Service, tasks []swarm.Task) int {
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(*r.Replicas)
	}
	nodes := map[string]bool{}
	n := 0
	for _, t := range tasks {
		if t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		if t.NodeID == "" {
			n++ // not scheduled yet: counts on its own
			continue
		}
		nodes[t.NodeID] = true
	}
	return max(n+len(nodes), 1)
}

// newest returns the task among tasks that ok accepts whose status changed
// last; nil when there is none.
func newest(tasks []swarm.Task, ok func(swarm.Task) bool) *swarm.Task {
	var found *swarm.Task
	for i := range tasks {
		t := &tasks[i]
		if ok(*t) && (found == nil || t.Status.Timestamp.After(found.Status.Timestamp)) {
			found = t
		}
	}
	return found
}

// runningOf says what a service runs, from its tasks: a running task of
// its current spec, else its current spec's newest task whatever its state
// (one that failed to start, as a paused update leaves it: the health gate
// judges it, as it judges a compose container that exited), else any
// running task, else its newest task.
func runningOf(s swarm.Service, tasks []swarm.Task) (forge.Running, bool) {
	t := newest(tasks, func(t swarm.Task) bool { return taskRunning(t) && current(s, t) })
	if t == nil {
		// One that got as far as a container first: the task scheduled
		// to replace it has none yet.
		t = newest(tasks, func(t swarm.Task) bool { return current(s, t) && containerID(t) != "" })
	}
	if t == nil {
		t = newest(tasks, func(t swarm.Task) bool { return current(s, t) })
	}
	if t == nil {
		t = newest(tasks, func(t swarm.Task) bool { return t.Status.State == swarm.TaskStateRunning })
	}
	if t == nil {
		t = newest(tasks, func(swarm.Task) bool { return true })
	}
	if t == nil {
		return forge.Running{}, false
	}
	r := forge.Running{State: string(t.Status.State)}
	if cs := t.Spec.ContainerSpec; cs != nil {
		r.Image, r.Digest = cs.Image, digestIn(cs.Image)
	}
	r.ContainerID = containerID(*t)
	return r, true
}

func containerID(t swarm.Task) string {
	if st := t.Status.ContainerStatus; st != nil {
		return st.ContainerID
	}
	return ""
}

// healthOf is a service's health as the gate reads it: running only when
// as many tasks run its current spec as it is to run; restarts are the
// tasks of the current spec that failed (or were rejected) since its last
// update began; started is when the newest of its running tasks started.
// A service with a healthcheck is healthy once its tasks run, since the
// swarm counts a task as running only once it is healthy.
func healthOf(s swarm.Service, tasks []swarm.Task) forge.Health {
	var since time.Time
	if us := s.UpdateStatus; us != nil && us.StartedAt != nil {
		since = *us.StartedAt
	}
	var h forge.Health
	running := 0
	for _, t := range tasks {
		if !current(s, t) {
			continue
		}
		switch {
		case taskRunning(t):
			running++
			if t.Status.Timestamp.After(h.StartedAt) {
				h.StartedAt = t.Status.Timestamp
			}
		case (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected) && !t.CreatedAt.Before(since):
			h.Restarts++
		}
	}
	desired := desiredTasks(s, tasks)
	h.Running = running >= desired
	switch last := newest(tasks, func(t swarm.Task) bool { return current(s, t) }); {
	case h.Running:
		h.State = string(swarm.TaskStateRunning)
	case running > 0:
		h.State = fmt.Sprintf("%d of %d tasks running", running, desired)
	case last != nil:
		h.State = string(last.Status.State)
	}
	if hasHealthcheck(s) {
		h.Status = "starting"
		if h.Running {
			h.Status = "healthy"
		}
	}
	return h
}

// hasHealthcheck reports whether a service's spec sets a healthcheck (one
// its image brings is not known here).
func hasHealthcheck(s swarm.Service) bool {
	cs := s.Spec.TaskTemplate.ContainerSpec
	if cs == nil || cs.Healthcheck == nil || len(cs.Healthcheck.Test) == 0 {
		return false
	}
	return cs.Healthcheck.Test[0] != "NONE"
}

// converged reports whether a service runs its current spec everywhere it
// is to run, and nothing else.
func converged(s swarm.Service, tasks []swarm.Task) bool {
	running := 0
	for _, t := range tasks {
		if !taskRunning(t) {
			continue
		}
		if !current(s, t) {
			return false
		}
		running++
	}
	return running >= desiredTasks(s, tasks)
}

// startFailed reports whether a task of the service's current spec failed
// or was rejected: a first deploy stops waiting for it, and leaves it to
// the health gate.
func startFailed(s swarm.Service, tasks []swarm.Task) bool {
	for _, t := range tasks {
		if current(s, t) && (t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected) {
			return true
		}
	}
	return false
}

// updateOutcome is where a service's update stands.
type updateOutcome int

const (
	// updateUnseen: no status of this update yet (the swarm has not begun
	// it, or never reports one, as for a new service); the tasks tell.
	updateUnseen updateOutcome = iota
	updateRunning
	updateDone
	updatePaused
	updateRolledBack
)

// outcomeOf maps a service's update status to an outcome. prev is when
// the update before ours began: a status that began then or earlier is
// that one's, not ours.
func outcomeOf(us *swarm.UpdateStatus, prev *time.Time) updateOutcome {
	if us == nil || us.StartedAt == nil || (prev != nil && !us.StartedAt.After(*prev)) {
		return updateUnseen
	}
	switch us.State {
	case swarm.UpdateStateCompleted:
		return updateDone
	case swarm.UpdateStateRollbackCompleted:
		return updateRolledBack
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		return updatePaused
	default:
		return updateRunning
	}
}
