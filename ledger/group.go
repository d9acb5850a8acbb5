package ledger

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// group commits the write transactions handed to it together, as bbolt's
// Batch does, but without its timer: a write that finds no commit under
// way is committed at once, and the writes that arrive while a commit is
// being synced all go into the next one. A lone webhook waits for no
// MaxBatchDelay (10 ms), and a burst still shares one fsync per commit.
//
// As with Batch, fn may run more than once: when a shared transaction
// fails, each of its writes is run again alone, so one write's error is
// its own.
type group struct {
	db *bolt.DB

	mu      sync.Mutex
	pending []groupCall
	running bool
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// do runs fn in a write transaction, maybe shared, and returns its error
// once the transaction is committed (or failed).
func (g *group) do(fn func(*bolt.Tx) error) error {
	c := groupCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
	return <-c.done
}

// drain commits what is pending until nothing is.
func (g *group) drain() {
	for {
		g.mu.Lock()
		calls := g.pending
		g.pending = nil
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

func (g *group) commit(calls []groupCall) {
	err := g.update(func(tx *bolt.Tx) error {
		for _, c := range calls {
			if err := c.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(calls) == 1 {
		for _, c := range calls {
			c.done <- err
		}
		return
	}
	for _, c := range calls {
		c.done <- g.update(c.fn)
	}
}

// update runs fn in a write transaction; a panic in fn (rolled back by
// bbolt) comes back as an error, not down the shared writer.
func (g *group) update(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger: a write panicked: %v", r)
		}
	}()
	return g.db.Update(fn)
}
