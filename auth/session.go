package auth

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// DefaultSessionTTL is how long a browser session lasts.
const DefaultSessionTTL = 12 * time.Hour

// maxSessions bounds the sessions kept; past it the oldest goes.
const maxSessions = 10000

// Session is a signed-in browser.
type Session struct {
	ID        string
	CSRF      string
	Principal Principal
	Expires   time.Time
}

// Sessions keeps browser sessions in memory: a restart signs everyone out.
type Sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]Session
}

// NewSessions returns an empty session store whose sessions last ttl.
func NewSessions(ttl time.Duration) *Sessions {
	return &Sessions{ttl: ttl, now: time.Now, m: map[string]Session{}}
}

// TTL is how long a new session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// Create opens a session for p.
func (s *Sessions) Create(p Principal) Session {
	sess := Session{ID: randomString(), CSRF: randomString(), Expires: s.now().Add(s.ttl)}
	p.CSRF, p.Session = sess.CSRF, sess.ID
	sess.Principal = p
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.evict()
	}
	s.m[sess.ID] = sess
	return sess
}

// Get returns a live session.
func (s *Sessions) Get(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	if ok && !s.now().Before(sess.Expires) {
		delete(s.m, id)
		return Session{}, false
	}
	return sess, ok
}

// Delete ends a session.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// evict drops expired sessions, or, when none has expired, the one that
// expires first. s.mu is held.
func (s *Sessions) evict() {
	now := s.now()
	var oldest string
	for id, sess := range s.m {
		if !now.Before(sess.Expires) {
			delete(s.m, id)
			continue
		}
		if oldest == "" || sess.Expires.Before(s.m[oldest].Expires) {
			oldest = id
		}
	}
	if len(s.m) >= maxSessions && oldest != "" {
		delete(s.m, oldest)
	}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
