package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/docker-forge/docker-forge"
)

// Logs writes the last tail lines of the logs of a service's containers to
// w, standard output and error alike, each line prefixed with its
// container's name when the service has several; with follow it goes on
// writing new lines until ctx ends.
func (e *Engine) Logs(ctx context.Context, project, service string, tail int, follow bool, w io.Writer) error {
	if _, ok, err := e.stackOf(ctx, project); err == nil && ok {
		return fmt.Errorf("logs of %s/%s: a swarm stack's service: read them with docker service logs %s_%s", project, service, project, service)
	}
	items, err := e.serviceContainers(ctx, project)
	if err != nil {
		return err
	}
	var ids, names []string
	for _, c := range items {
		if c.Labels[forge.ComposeServiceLabel] != service {
			continue
		}
		ids = append(ids, c.ID)
		name := shortID(c.ID)
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		names = append(names, name)
	}
	if len(ids) == 0 {
		return fmt.Errorf("logs of %s/%s: %w", project, service, forge.ErrNoContainer)
	}
	out := &lineWriter{w: w}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		prefix := ""
		if len(ids) > 1 {
			prefix = names[i] + " | "
		}
		wg.Go(func() { errs[i] = e.containerLogs(ctx, id, prefix, tail, follow, out) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("logs of %s/%s: %w", project, service, err)
		}
	}
	return nil
}

func (e *Engine) containerLogs(ctx context.Context, id, prefix string, tail int, follow bool, out *lineWriter) error {
	in, err := e.cli.Client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return classify(err)
	}
	rc, err := e.cli.Client().ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: follow, Tail: strconv.Itoa(tail),
	})
	if err != nil {
		return classify(err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		var err error
		if in.Container.Config != nil && in.Container.Config.Tty {
			_, err = io.Copy(pw, rc) // a TTY's output is not multiplexed
		} else {
			_, err = stdcopy.StdCopy(pw, pw, rc)
		}
		pw.CloseWithError(err)
	}()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if err := out.line(prefix + sc.Text()); err != nil {
			_ = pr.CloseWithError(err)
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// lineWriter writes whole lines from several containers, one at a time,
// flushing each when w can.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := io.WriteString(l.w, s+"\n"); err != nil {
		return err
	}
	if f, ok := l.w.(interface{ Flush() }); ok {
		f.Flush()
	}
	return nil
}
