package forge

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that JSON spells as Go does ("1m30s").
type Duration time.Duration

// String is the duration as Go spells it.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// ContainerSample is one reading of a running compose container's resource
// use, as the engine reports it: cumulative counters, not yet rates. CPU use
// becomes a percentage only against an earlier reading (see the collector).
type ContainerSample struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Project string    `json:"project"`
	Service string    `json:"service"`
	Read    time.Time `json:"read"`
	// CPUTotal and SystemTotal are nanoseconds of CPU time: the container's,
	// and the host's across all CPUs. OnlineCPUs scales their ratio.
	CPUTotal    uint64 `json:"cpu_total"`
	SystemTotal uint64 `json:"system_total"`
	OnlineCPUs  uint32 `json:"online_cpus"`
	// PreCPUTotal and PreSystemTotal are the engine's own previous reading,
	// when it took one (zero otherwise).
	PreCPUTotal    uint64 `json:"pre_cpu_total,omitempty"`
	PreSystemTotal uint64 `json:"pre_system_total,omitempty"`
	// Memory is the usage without the page cache, as docker stats shows it;
	// MemoryLimit is 0 when the container has no limit of its own.
	Memory      uint64 `json:"memory"`
	MemoryLimit uint64 `json:"memory_limit"`
	NetRx       uint64 `json:"net_rx"`
	NetTx       uint64 `json:"net_tx"`
	BlockRead   uint64 `json:"block_read"`
	BlockWrite  uint64 `json:"block_write"`
	PIDs        uint64 `json:"pids"`
}

// StatPoint is the resource use of a compose service (or of a whole project)
// at one time: the sum over its containers, except MemoryLimit, the largest
// (0 when any container is unlimited). A rollup point stands for a period
// that starts at Time: its values are averages over the samples in it and
// CPUMax and MemoryMax their maxima; a raw point has max equal to value.
type StatPoint struct {
	Time        time.Time `json:"time"`
	CPU         float64   `json:"cpu_percent"`
	CPUMax      float64   `json:"cpu_percent_max"`
	Memory      uint64    `json:"memory"`
	MemoryMax   uint64    `json:"memory_max"`
	MemoryLimit uint64    `json:"memory_limit"`
	NetRx       uint64    `json:"net_rx"`
	NetTx       uint64    `json:"net_tx"`
	BlockRead   uint64    `json:"block_read"`
	BlockWrite  uint64    `json:"block_write"`
	PIDs        uint64    `json:"pids"`
	// Containers is how many containers the point sums (averaged in a
	// rollup); Samples how many raw points a rollup averages (1 when raw).
	Containers uint32 `json:"containers"`
	Samples    uint32 `json:"samples"`
}

// StatSeries is the history of one service, or of a project when Service is
// empty, at one resolution.
type StatSeries struct {
	// Engine is the docker context the project runs on.
	Engine  string `json:"engine,omitempty"`
	Project string `json:"project"`
	Service string `json:"service,omitempty"`
	// Step is the length of the period each point stands for ("1m0s" in
	// JSON); 0 when the points are the collector's own samples.
	Step   Duration    `json:"step"`
	Points []StatPoint `json:"points"`
	// Current is the newest sample, however coarse Points are.
	Current *StatPoint `json:"current,omitempty"`
}

// Latest is the series' newest point, or false when it has none.
func (s StatSeries) Latest() (StatPoint, bool) {
	if len(s.Points) == 0 {
		return StatPoint{}, false
	}
	return s.Points[len(s.Points)-1], true
}

// TopEntry is one container in `docker forge top`: its latest sample, named
// project/service.
type TopEntry struct {
	// Engine is the engine (docker context) the container runs on.
	Engine      string    `json:"engine,omitempty"`
	Name        string    `json:"name"`
	Container   string    `json:"container"`
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	CPU         float64   `json:"cpu_percent"`
	Memory      uint64    `json:"memory"`
	MemoryLimit uint64    `json:"memory_limit"`
	PIDs        uint64    `json:"pids"`
}

// HostStats is a snapshot of the Docker host.
type HostStats struct {
	EngineVersion     string    `json:"engine_version"`
	APIVersion        string    `json:"api_version,omitempty"`
	OS                string    `json:"os,omitempty"`
	CPUs              int       `json:"cpus"`
	Memory            uint64    `json:"memory"`
	ContainersRunning int       `json:"containers_running"`
	ContainersStopped int       `json:"containers_stopped"`
	ContainersPaused  int       `json:"containers_paused"`
	Images            int       `json:"images"`
	Time              time.Time `json:"time"`
}
