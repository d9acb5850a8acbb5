// Package memtrim gives back, once a daemon has started, the memory its
// start-up touched and idle running does not need: the garbage of
// initialisation, and the pages of its own executable that package
// initialisers and start-up code read once. Those are clean file pages: the
// kernel reads them back from the file if they are needed again.
package memtrim

import "runtime/debug"

// Trim frees the heap's garbage and returns it to the system, then lets
// the kernel take back the executable's pages this process mapped (on
// Linux). It reports how many bytes of the executable were handed back,
// or an error from the last that failed.
func Trim() (int64, error) {
	debug.FreeOSMemory() // collects first
	return pageOutExecutable()
}
