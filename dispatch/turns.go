package dispatch

import (
	"context"
	"fmt"
	"slices"

	"github.com/docker-forge/docker-forge"
)

// turn is a place in a project's line. Deploys of one project run one at a
// time in the order they were queued, whoever queued them: a push's deploy
// takes its turn when it is queued, a manual deploy or rollback when it is
// asked for, so a rollback issued while a push's deploy runs (or waits)
// runs after it, and a push that arrives after the rollback runs after that.
type turn struct {
	project string
	ready   chan struct{} // closed when the turn is at the head of its line
	opened  bool          // ready is closed; d.mu guards it
}

// wait blocks until it is t's go, or ctx ends.
func (t *turn) wait(ctx context.Context) error {
	select {
	case <-t.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the deploys of %s queued before: %w", t.project, ctx.Err())
	}
}

// takeTurn puts a new turn at the end of project's line. d.mu is held.
func (d *Dispatcher) takeTurn(project string) *turn {
	t := &turn{project: project, ready: make(chan struct{})}
	d.lines[project] = append(d.lines[project], t)
	d.openHead(project)
	return t
}

// leaveLine takes t out of its line, wherever it stands, and lets the next
// turn go. d.mu is held.
func (d *Dispatcher) leaveLine(t *turn) {
	if t == nil {
		return
	}
	line := slices.DeleteFunc(d.lines[t.project], func(o *turn) bool { return o == t })
	if len(line) == 0 {
		delete(d.lines, t.project)
		return
	}
	d.lines[t.project] = line
	d.openHead(t.project)
}

// endTurn is leaveLine for a caller that does not hold d.mu.
func (d *Dispatcher) endTurn(t *turn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leaveLine(t)
}

func (d *Dispatcher) openHead(project string) {
	if line := d.lines[project]; len(line) > 0 && !line[0].opened {
		line[0].opened = true
		close(line[0].ready)
	}
}

// BusyError is a manual deploy or rollback asked not to wait (--no-wait)
// while another deploy of its project runs or is queued.
type BusyError struct {
	Project string `json:"project"`
	// ID is the deploy running (or, when none runs, the one queued first);
	// 0 when it is a manual deploy not recorded yet.
	ID     uint64       `json:"id,omitempty"`
	Status forge.Status `json:"status"`
}

func (e *BusyError) Error() string {
	what := "a deploy of " + e.Project
	if e.ID != 0 {
		what = fmt.Sprintf("deploy %d of %s", e.ID, e.Project)
	}
	return fmt.Sprintf("%s is %s", what, e.Status)
}

// lineUp takes a turn for a manual deploy or rollback of project. A queued
// push's deploy ahead of it no longer takes in later pushes: those line up
// behind the manual one. With noWait, a project with a deploy running or
// queued is refused with a *BusyError instead.
func (d *Dispatcher) lineUp(project string, noWait bool) (*turn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if noWait {
		if busy := d.busy(project); busy != nil {
			return nil, busy
		}
	}
	if p := d.pending[project]; p != nil {
		d.sealed[project] = append(d.sealed[project], p)
		delete(d.pending, project)
	}
	return d.takeTurn(project), nil
}

// busy describes what project's line holds, nil when it is empty. d.mu is
// held.
func (d *Dispatcher) busy(project string) *BusyError {
	if id, ok := d.active[project]; ok {
		return &BusyError{Project: project, ID: id, Status: forge.StatusRunning}
	}
	if s := d.sealed[project]; len(s) > 0 {
		return &BusyError{Project: project, ID: s[0].deploy.ID, Status: forge.StatusQueued}
	}
	if p := d.pending[project]; p != nil {
		return &BusyError{Project: project, ID: p.deploy.ID, Status: forge.StatusQueued}
	}
	if len(d.lines[project]) > 0 || d.creating[project] != nil {
		return &BusyError{Project: project, Status: forge.StatusQueued}
	}
	return nil
}

// nextJob takes the project's next queued deploy off the queue: one a
// manual deploy sealed first, else the pending one; nil when none waits.
// d.mu is held.
func (d *Dispatcher) nextJob(project string) *job {
	if s := d.sealed[project]; len(s) > 0 {
		j := s[0]
		if len(s) == 1 {
			delete(d.sealed, project)
		} else {
			d.sealed[project] = s[1:]
		}
		return j
	}
	j := d.pending[project]
	delete(d.pending, project)
	return j
}
