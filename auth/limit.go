package auth

import (
	"sync"
	"time"
)

// The default limit on wrong tokens: this many per client address within
// the window; past it, every token from that address is refused until the
// window has passed.
const (
	DefaultFailures      = 10
	DefaultFailureWindow = time.Minute
)

// maxTracked bounds the addresses the limiter remembers.
const maxTracked = 10000

// Limiter counts wrong tokens per client address.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*failures
}

type failures struct {
	n     int
	start time.Time
}

// NewLimiter allows max wrong tokens per address within window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{max: max, window: window, now: time.Now, seen: map[string]*failures{}}
}

// Allow reports whether addr may try a token now.
func (l *Limiter) Allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.seen[addr]
	if !ok {
		return true
	}
	if l.now().Sub(f.start) >= l.window {
		delete(l.seen, addr)
		return true
	}
	return f.n < l.max
}

// Fail counts a wrong token from addr.
func (l *Limiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.seen[addr]
	if !ok || now.Sub(f.start) >= l.window {
		if len(l.seen) >= maxTracked {
			for a, g := range l.seen {
				if now.Sub(g.start) >= l.window {
					delete(l.seen, a)
				}
			}
		}
		if len(l.seen) >= maxTracked {
			return // an address flood: counting more would only grow memory
		}
		f = &failures{start: now}
		l.seen[addr] = f
	}
	f.n++
}
