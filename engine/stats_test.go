package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeStatsLikeDockerStats(t *testing.T) {
	// A cgroup v2 answer: inactive_file is the page cache docker stats
	// leaves out; I/O ops are lower case.
	body := `{"id":"abc","name":"/shop-web-1","read":"2026-11-28T10:00:01Z","preread":"2026-11-28T10:00:00Z",
	"pids_stats":{"current":7},
	"blkio_stats":{"io_service_bytes_recursive":[
		{"major":8,"minor":0,"op":"read","value":4096},{"major":8,"minor":16,"op":"read","value":1000},
		{"major":8,"minor":0,"op":"write","value":8192},{"major":8,"minor":0,"op":"discard","value":5}]},
	"cpu_stats":{"cpu_usage":{"total_usage":3000000000},"system_cpu_usage":200000000000,"online_cpus":4},
	"precpu_stats":{"cpu_usage":{"total_usage":2000000000},"system_cpu_usage":196000000000,"online_cpus":4},
	"memory_stats":{"usage":10485760,"stats":{"inactive_file":4194304},"limit":268435456},
	"networks":{"eth0":{"rx_bytes":100,"tx_bytes":200},"eth1":{"rx_bytes":1,"tx_bytes":2}}}`
	s, err := DecodeStats(strings.NewReader(body), 8<<30)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "shop-web-1" || s.CPUTotal != 3e9 || s.PreCPUTotal != 2e9 || s.SystemTotal != 200e9 || s.PreSystemTotal != 196e9 || s.OnlineCPUs != 4 {
		t.Errorf("cpu fields: %+v", s)
	}
	if s.Memory != 6<<20 || s.MemoryLimit != 256<<20 {
		t.Errorf("memory %d / %d; want 6 MiB (usage less inactive_file) / 256 MiB", s.Memory, s.MemoryLimit)
	}
	if s.NetRx != 101 || s.NetTx != 202 || s.BlockRead != 5096 || s.BlockWrite != 8192 || s.PIDs != 7 {
		t.Errorf("net %d/%d, block %d/%d, pids %d; want 101/202, 5096/8192, 7", s.NetRx, s.NetTx, s.BlockRead, s.BlockWrite, s.PIDs)
	}

	// cgroup v1 names the cache total_inactive_file; a limit as large as
	// the host's memory is no limit; online_cpus missing counts percpu.
	v1 := `{"read":"2026-11-28T10:00:01Z","cpu_stats":{"cpu_usage":{"total_usage":5,"percpu_usage":[1,2,2]},"system_cpu_usage":9},
	"memory_stats":{"usage":1000,"stats":{"total_inactive_file":300,"inactive_file":999},"limit":8589934592}}`
	s, err = DecodeStats(strings.NewReader(v1), 8<<30)
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory != 700 || s.MemoryLimit != 0 || s.OnlineCPUs != 3 {
		t.Errorf("v1: memory %d limit %d cpus %d; want 700, 0 (unlimited), 3", s.Memory, s.MemoryLimit, s.OnlineCPUs)
	}

	// A stopped container answers zero times: no reading, not zeros.
	if _, err := DecodeStats(strings.NewReader(`{"read":"0001-01-01T00:00:00Z","cpu_stats":{"cpu_usage":{"total_usage":0}}}`), 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stopped container: err %v, want ErrNotRunning", err)
	}
	if _, err := DecodeStats(strings.NewReader(`{"read":`), 0); err == nil || errors.Is(err, ErrNotRunning) {
		t.Errorf("truncated answer: err %v, want a decode error", err)
	}
}
