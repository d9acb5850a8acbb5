package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-forge/docker-forge"
)

// Metrics are the collector's Prometheus figures: the latest resource use
// of each compose service, and the collector's own run time and errors.
type Metrics struct {
	cpu, mem, limit, rx, tx, read, write, pids *prometheus.GaugeVec
	runs                                       prometheus.Histogram
	errors                                     prometheus.Counter
	containers                                 prometheus.Gauge
	shown                                      map[[2]string]bool // project, service with gauges set
}

// NewMetrics registers the collector's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"project", "service"})
	}
	m := &Metrics{
		cpu:   gauge("forge_service_cpu_percent", "CPU use of a compose service's containers at the last collection, in percent of one CPU, summed."),
		mem:   gauge("forge_service_memory_bytes", "Memory use (without page cache) of a compose service's containers, summed."),
		limit: gauge("forge_service_memory_limit_bytes", "Largest memory limit among a service's containers; 0 when any is unlimited."),
		rx:    gauge("forge_service_network_receive_bytes", "Bytes received by a service's containers since they started, summed."),
		tx:    gauge("forge_service_network_transmit_bytes", "Bytes sent by a service's containers since they started, summed."),
		read:  gauge("forge_service_block_read_bytes", "Bytes read from block devices by a service's containers, summed."),
		write: gauge("forge_service_block_write_bytes", "Bytes written to block devices by a service's containers, summed."),
		pids:  gauge("forge_service_pids", "Processes in a service's containers, summed."),
		runs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "forge_collector_run_duration_seconds",
			Help:    "Wall time of one stats collection over every compose container.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30},
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "forge_collector_errors_total",
			Help: "Stats collections that failed, and container readings that failed within one.",
		}),
		containers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "forge_collector_containers",
			Help: "Compose containers sampled by the last collection.",
		}),
	}
	reg.MustRegister(m.cpu, m.mem, m.limit, m.rx, m.tx, m.read, m.write, m.pids, m.runs, m.errors, m.containers)
	return m
}

func (m *Metrics) observeRun(res Result, err error) {
	if m == nil {
		return
	}
	m.runs.Observe(res.Duration.Seconds())
	m.errors.Add(float64(res.Failed))
	if err != nil {
		m.errors.Inc()
		return
	}
	m.containers.Set(float64(res.Sampled))
}

// setServices sets the per-service gauges to the last collection's sums,
// and removes those of services it found no container of.
func (m *Metrics) setServices(series []forge.StatSeries) {
	if m == nil {
		return
	}
	all := []*prometheus.GaugeVec{m.cpu, m.mem, m.limit, m.rx, m.tx, m.read, m.write, m.pids}
	shown := map[[2]string]bool{}
	for _, s := range series {
		p, ok := s.Latest()
		if s.Service == "" || !ok {
			continue
		}
		shown[[2]string{s.Project, s.Service}] = true
		for i, v := range []float64{p.CPU, float64(p.Memory), float64(p.MemoryLimit), float64(p.NetRx), float64(p.NetTx), float64(p.BlockRead), float64(p.BlockWrite), float64(p.PIDs)} {
			all[i].WithLabelValues(s.Project, s.Service).Set(v)
		}
	}
	for k := range m.shown {
		if !shown[k] {
			for _, g := range all {
				g.DeleteLabelValues(k[0], k[1])
			}
		}
	}
	m.shown = shown
}
