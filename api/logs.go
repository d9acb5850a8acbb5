package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/webhook"
)

// logReader is the part of the engine that reads containers' logs.
type logReader interface {
	Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error
}

// Default and largest number of log lines asked for.
const (
	DefaultLogTail = 200
	MaxLogTail     = 10000
)

// Logs writes the last lines of a service's containers' logs to w, and with
// follow the new ones until ctx ends.
func (l *Local) Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error {
	known, err := l.knows(ctx, project)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", project, err)
	}
	if !known {
		return fmt.Errorf("logs of %s: %w", project, dispatch.ErrUnknownProject)
	}
	return l.Engine.Logs(ctx, project, service, tail, follow, w)
}

func (h *handlers) logs(w http.ResponseWriter, r *http.Request) error {
	if !h.viewerLogs && !isAdmin(r) {
		return webhook.Errorf(http.StatusForbidden, "logs can carry secrets: they need an admin token (or serve --viewer-logs)")
	}
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		return webhook.Errorf(http.StatusBadRequest, "logs need a service: GET /api/projects/{name}/logs?service=")
	}
	tail := DefaultLogTail
	if s := q.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxLogTail {
			return webhook.Errorf(http.StatusBadRequest, "tail %q: want a count from 0 to %d", s, MaxLogTail)
		}
		tail = n
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	sw := &streamWriter{w: w}
	err := h.b.Logs(r.Context(), mux.Vars(r)["name"], service, tail, follow, sw)
	if err != nil && !sw.started {
		return h.fail(err)
	}
	if !sw.started {
		sw.start() // no line at all: an empty answer, not an error
	}
	return nil
}

// streamWriter answers 200 with plain text once the first bytes come, so an
// error before them still gets its own status; it flushes every write.
type streamWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *streamWriter) start() {
	s.started = true
	s.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	s.w.Header().Set("X-Content-Type-Options", "nosniff")
	s.w.Header().Set("Cache-Control", "no-store")
	s.w.WriteHeader(http.StatusOK)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.start()
	}
	return s.w.Write(p)
}

func (s *streamWriter) Flush() {
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Logs streams a service's logs from the daemon into w.
func (c *Client) Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error {
	v := url.Values{"service": {service}, "tail": {strconv.Itoa(tail)}}
	if follow {
		v.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://forge/api/projects/"+url.PathEscape(project)+"/logs?"+v.Encode()+engineParam(ctx, "&"), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
