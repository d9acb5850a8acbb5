package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutExecutable asks the kernel (MADV_PAGEOUT, Linux 5.4+) to reclaim
// the pages of this process's mappings of its own executable: its code and
// read-only data, clean and backed by the file. Pages no other process maps
// leave the page cache too: the next use reads them from disk again (the
// first deploy after start pays for that once). Pages another process maps
// (a docker forge command running meanwhile) stay. MADV_RANDOM first turns
// off fault-around and readahead for those mappings, so what idle running
// reads again comes back a page at a time.
func pageOutExecutable() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("memtrim: %w", err)
	}
	defer f.Close()
	var total int64
	var last error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path (which may hold spaces)
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 6 || strings.TrimLeft(fields[5], " ") != exe || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// Without fault-around, a page read later maps that page alone,
		// not the 15 around it that were in the page cache too.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_RANDOM); errno != 0 {
			last = fmt.Errorf("memtrim: madvise random %s: %w", fields[0], errno)
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); errno != 0 {
			last = fmt.Errorf("memtrim: madvise %s: %w", fields[0], errno)
			continue
		}
		total += int64(end - start)
	}
	if err := sc.Err(); err != nil {
		return total, fmt.Errorf("memtrim: %w", err)
	}
	return total, last
}
