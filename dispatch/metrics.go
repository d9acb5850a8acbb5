package dispatch

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/ledger"
)

// recorder is the ledger as the dispatcher writes it: every deploy that
// reaches a final status is counted, once, in the Prometheus metrics.
type recorder struct {
	*ledger.Ledger
	m *deployMetrics
}

type deployMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	phases   *prometheus.HistogramVec
	mu       sync.Mutex
	counted  map[uint64]forge.Status // deploy id -> final status counted
}

func newDeployMetrics(reg prometheus.Registerer) *deployMetrics {
	m := &deployMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "forge_deploys_total",
			Help: "Deploys that reached a final status, by compose project and status (succeeded, failed, interrupted).",
		}, []string{"project", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "forge_deploy_duration_seconds",
			Help:    "Time from a deploy's start to its final status, health gate included.",
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"status"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "forge_deploy_phase_seconds",
			Help:    "Time each phase of a finished deploy took: queue, resolve, pull, recreate, verify, health (a phase a deploy did not reach is not observed).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"phase"}),
		counted: map[uint64]forge.Status{},
	}
	if reg != nil {
		reg.MustRegister(m.total, m.duration, m.phases)
	}
	return m
}

// observe counts d if it just reached a final status.
func (m *deployMetrics) observe(d forge.Deploy) {
	if m == nil || !d.Status.Final() || d.Status == forge.StatusInterrupted && strings.HasPrefix(d.Error, "merged into") {
		return // a queued deploy that joined another did not run
	}
	m.mu.Lock()
	if m.counted[d.ID] == d.Status {
		m.mu.Unlock()
		return
	}
	if len(m.counted) > 4096 {
		clear(m.counted) // the ids of long-finished deploys are not written again
	}
	m.counted[d.ID] = d.Status
	m.mu.Unlock()
	m.total.WithLabelValues(d.Project, string(d.Status)).Inc()
	if !d.Started.IsZero() && d.Finished.After(d.Started) {
		m.duration.WithLabelValues(string(d.Status)).Observe(d.Finished.Sub(d.Started).Seconds())
	}
	d.Phases.Each(func(name string, took time.Duration) {
		if took > 0 {
			m.phases.WithLabelValues(name).Observe(took.Seconds())
		}
	})
}

func (r recorder) Create(d *forge.Deploy) error {
	err := r.Ledger.Create(d)
	if err == nil {
		r.m.observe(*d)
	}
	return err
}

func (r recorder) Update(d forge.Deploy) error {
	err := r.Ledger.Update(d)
	if err == nil {
		r.m.observe(d)
	}
	return err
}

func (r recorder) CreateFinal(d *forge.Deploy, notifications func(forge.Deploy) []ledger.OutboxEntry) error {
	err := r.Ledger.CreateFinal(d, notifications)
	if err == nil {
		r.m.observe(*d)
	}
	return err
}

func (r recorder) Finish(d forge.Deploy, snapshots map[string][]byte, outbox ...ledger.OutboxEntry) error {
	err := r.Ledger.Finish(d, snapshots, outbox...)
	if err == nil {
		r.m.observe(d)
	}
	return err
}

func (r recorder) Chain(done, next *forge.Deploy, link func(done, next *forge.Deploy), snapshots map[string][]byte, notifications func(forge.Deploy) []ledger.OutboxEntry) error {
	err := r.Ledger.Chain(done, next, link, snapshots, notifications)
	if err == nil {
		r.m.observe(*done)
		r.m.observe(*next)
	}
	return err
}
