package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker-forge/docker-forge"
)

// Defaults of the health gate, per service overridable with labels.
const (
	DefaultHealthTimeout = 60 * time.Second
	DefaultSettle        = 3 * time.Second
	gatePoll             = 250 * time.Millisecond
)

// gateResult is how a deploy's services came through the health gate.
type gateResult struct {
	passed bool
	why    string
	// healthchecked lists the gated services that have a healthcheck.
	healthchecked map[string]bool
}

// gate waits until every recreated service, and every service that depends
// on one, is healthy (services with a healthcheck) or has stayed running for
// its settle period (services without), up to the longest health timeout
// among them. A container that stops, restarts or turns unhealthy fails the
// gate at once.
//
// A deploy converging again after a crash gates every service it targets:
// the crash may have come after compose recreated them, before the gate.
// Dependents are gated only when they were running before the deploy (a
// one-shot job that exited, or a service the user stopped, is left alone).
func (d *Dispatcher) gate(ctx context.Context, p forge.Project, dep *forge.Deploy, before map[string]forge.Running, recovered bool) gateResult {
	res := gateResult{passed: true, healthchecked: map[string]bool{}}
	gated := gatedServices(p, dep, before, recovered)
	if len(gated) == 0 {
		return res
	}
	labels := map[string]map[string]string{}
	for _, s := range p.Services {
		labels[s.Name] = s.Labels
	}
	timeout := time.Duration(0)
	for _, name := range gated {
		timeout = max(timeout, labelDuration(labels[name], forge.LabelHealthTimeout, d.healthTimeout))
	}
	deadline := time.Now().Add(timeout)
	var restarts map[string]int
	for {
		h, err := d.eng.Health(ctx, dep.Project)
		if errors.Is(err, forge.ErrEngineUnavailable) && time.Now().Before(deadline) {
			// A blip of the engine is waited out until the deadline.
			select {
			case <-ctx.Done():
				return gateResult{why: "stopped while waiting for health", healthchecked: res.healthchecked}
			case <-time.After(gatePoll):
			}
			continue
		}
		if err != nil {
			return gateResult{why: "could not read the services' health", healthchecked: res.healthchecked}
		}
		if restarts == nil {
			restarts = map[string]int{}
			for _, name := range gated {
				// A recreated container starts from 0: a crash before the
				// first look still counts.
				if s, ok := dep.Service(name); !ok || !s.Changed {
					restarts[name] = h[name].Restarts
				}
			}
		}
		for _, name := range gated {
			if h[name].Status != "" {
				res.healthchecked[name] = true
			}
		}
		waiting := []string{}
		for _, name := range gated {
			s := h[name]
			switch {
			case !s.Running:
				return gateResult{why: fmt.Sprintf("%s is not running (%s)", name, cmpOr(s.State, "gone")), healthchecked: res.healthchecked}
			case s.Restarts != restarts[name]:
				return gateResult{why: name + " restarted", healthchecked: res.healthchecked}
			case s.Status == "unhealthy":
				return gateResult{why: name + " is unhealthy", healthchecked: res.healthchecked}
			case s.Status == "healthy":
			case s.Status == "" && time.Since(s.StartedAt) >= labelDuration(labels[name], forge.LabelSettle, d.settle):
			default:
				waiting = append(waiting, name)
			}
		}
		if len(waiting) == 0 {
			return res
		}
		if time.Now().After(deadline) {
			return gateResult{why: fmt.Sprintf("%s not healthy after %s", strings.Join(waiting, ", "), timeout), healthchecked: res.healthchecked}
		}
		select {
		case <-ctx.Done():
			return gateResult{why: "stopped while waiting for health", healthchecked: res.healthchecked}
		case <-time.After(gatePoll):
		}
	}
}

// gatedServices are the deploy's recreated services and, transitively, the
// services that depend on them.
func gatedServices(p forge.Project, dep *forge.Deploy, before map[string]forge.Running, recovered bool) []string {
	set := map[string]bool{}
	for _, s := range dep.Services {
		if s.Changed || recovered {
			set[s.Service] = true
		}
	}
	for grew := len(set) > 0; grew; {
		grew = false
		for _, s := range p.Services {
			if set[s.Name] {
				continue
			}
			if before[s.Name].State != "running" {
				continue // not running before the deploy: not the deploy's to judge
			}
			for _, dep := range s.DependsOn {
				if set[dep] {
					set[s.Name], grew = true, true
					break
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// wantsRollback reports whether a failed gate rolls the deploy back: a
// deployed service labelled forge.rollback=auto, or a gated one (deployed or
// dependent) with a healthcheck and no forge.rollback=manual.
func wantsRollback(p forge.Project, dep *forge.Deploy, g gateResult) bool {
	for _, s := range p.Services {
		if _, ok := dep.Service(s.Name); !ok && !g.healthchecked[s.Name] {
			continue // neither deployed nor a gated dependent with a healthcheck
		}
		switch s.Labels[forge.LabelRollback] {
		case "auto":
			return true
		case "manual":
			continue
		}
		if g.healthchecked[s.Name] {
			return true
		}
	}
	return false
}

func labelDuration(labels map[string]string, key string, def time.Duration) time.Duration {
	if v, ok := labels[key]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return def
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
