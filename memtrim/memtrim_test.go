package memtrim

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rssFile is this process's file-backed resident memory, in kB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestTrimGivesBackTheExecutablesPages: after Trim, less of the test
// binary is resident, and it goes on running (its pages come back).
func TestTrimGivesBackTheExecutablesPages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MADV_PAGEOUT is Linux's")
	}
	before := rssFile(t)
	n, err := Trim()
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Fatalf("Trim handed back %d bytes of the executable, want its mappings", n)
	}
	after := rssFile(t)
	if after >= before {
		t.Errorf("RssFile %d kB before Trim, %d kB after: nothing given back", before, after)
	}
	// The program still runs: its code is read back as it is used.
	if s := strings.Repeat("ok", 3); s != "okokok" {
		t.Fatal(s)
	}
}
