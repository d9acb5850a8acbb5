package forge

import (
	"encoding/json"
	"math"
	"time"
)

// Phases says how long each part of a deploy took, for a person asking
// why one was slow and for the benchmarks; a part that did not happen is 0.
type Phases struct {
	// Queue is the wait from the deploy's queueing to its start.
	Queue time.Duration
	// Resolve is loading the project, reading what runs and pinning each
	// service to a digest (or building it).
	Resolve time.Duration
	// Pull is the engine pulling the images that it lacked.
	Pull time.Duration
	// Recreate is the rest of bringing the services up: compose stopping,
	// creating and starting containers (and the engine's preparation).
	Recreate time.Duration
	// Verify is reading back what the containers run now.
	Verify time.Duration
	// Health is the health gate's wait (the settle window included).
	Health time.Duration
}

// PhaseNames are the phases in the order a deploy goes through them, as
// they are named in JSON (with _ms) and in the metrics' phase label.
var PhaseNames = []string{"queue", "resolve", "pull", "recreate", "verify", "health"}

// Each calls f with every phase, in order.
func (p Phases) Each(f func(name string, d time.Duration)) {
	for i, d := range []time.Duration{p.Queue, p.Resolve, p.Pull, p.Recreate, p.Verify, p.Health} {
		f(PhaseNames[i], d)
	}
}

// IsZero reports whether no phase was recorded (a deploy from before
// phases were kept, or one still queued).
func (p Phases) IsZero() bool { return p == Phases{} }

type phasesJSON struct {
	Queue    float64 `json:"queue_ms"`
	Resolve  float64 `json:"resolve_ms"`
	Pull     float64 `json:"pull_ms"`
	Recreate float64 `json:"recreate_ms"`
	Verify   float64 `json:"verify_ms"`
	Health   float64 `json:"health_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func dur(ms float64) time.Duration { return time.Duration(math.Round(ms * float64(time.Millisecond))) }

// MarshalJSON writes each phase in milliseconds: "queue_ms": 1.25.
func (p Phases) MarshalJSON() ([]byte, error) {
	return json.Marshal(phasesJSON{ms(p.Queue), ms(p.Resolve), ms(p.Pull), ms(p.Recreate), ms(p.Verify), ms(p.Health)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Phases) UnmarshalJSON(b []byte) error {
	var j phasesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Phases{dur(j.Queue), dur(j.Resolve), dur(j.Pull), dur(j.Recreate), dur(j.Verify), dur(j.Health)}
	return nil
}
