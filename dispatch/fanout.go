package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/docker-forge/docker-forge"
)

// Fanout hands every push to the dispatcher of each engine: one push deploys
// wherever a matching service runs, each engine in its own queue. An engine
// that is down matches against the projects the ledger knows it ran and
// keeps its deploys queued until it is back; it holds back no other.
type Fanout []*Dispatcher

// Submit submits events to every engine's dispatcher at once and joins
// their answers. Something queued anywhere is the answer, and an engine
// that could not take the push (its queue full, an error other than being
// down) is logged: failing the delivery would make the sender retry it,
// and every retry would deploy again where it was queued. Only when no
// engine queued anything is an error returned, for the sender to retry.
func (f Fanout) Submit(ctx context.Context, events []forge.Event) ([]forge.QueuedDeploy, string, error) {
	if len(f) == 1 {
		return f[0].Submit(ctx, events)
	}
	type answer struct {
		queued  []forge.QueuedDeploy
		ignored string
		err     error
	}
	answers := make([]answer, len(f))
	var wg sync.WaitGroup
	for i, d := range f {
		wg.Go(func() {
			q, why, err := d.Submit(ctx, events)
			answers[i] = answer{q, why, err}
		})
	}
	wg.Wait()
	var (
		queued []forge.QueuedDeploy
		whys   []string
		errs   []error
	)
	for i, a := range answers {
		queued = append(queued, a.queued...)
		if a.err != nil {
			errs = append(errs, fmt.Errorf("engine %s: %w", f[i].led.Scope(), a.err))
		}
		if a.ignored != "" && !slices.Contains(whys, a.ignored) {
			whys = append(whys, a.ignored)
		}
	}
	if len(queued) > 0 {
		for i, a := range answers {
			if a.err != nil {
				f[i].log.Error("push not queued on this engine; the others took it", "engine", f[i].led.Scope(), "error", f[i].scrub.String(a.err.Error()))
			}
		}
		return queued, "", nil
	}
	if len(errs) > 0 {
		return nil, "", errors.Join(errs...)
	}
	return nil, strings.Join(whys, "; "), nil
}
