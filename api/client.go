package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/dispatch"
	"github.com/docker-forge/docker-forge/ledger"
)

// Client talks to a running daemon over its unix socket.
type Client struct {
	http *http.Client
}

// Dial returns a Client when a daemon answers on socket, or an error when none
// does (then the CLI works in-process).
func Dial(ctx context.Context, socket string) (*Client, error) {
	c := &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://forge/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dial daemon at %s: %w", socket, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("dial daemon at %s: health check answered %s", socket, resp.Status)
	}
	return c, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://forge"+withEngine(ctx, path), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("daemon: decode answer: %w", err)
	}
	return nil
}

// remoteError reads the daemon's error answer: a *dispatch.BusyError for a
// busy project, a *RemoteError otherwise.
func remoteError(resp *http.Response) error {
	var e BusyAnswer
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if e.Busy != nil && resp.StatusCode == http.StatusConflict {
		return e.Busy
	}
	if e.Error == "" {
		e.Error = resp.Status
	}
	return &RemoteError{Status: resp.StatusCode, Message: e.Error}
}

// RemoteError is an error the daemon answered with.
type RemoteError struct {
	Status  int
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Deploy asks the daemon to deploy now and waits for the outcome.
func (c *Client) Deploy(ctx context.Context, req dispatch.Request) (forge.Deploy, error) {
	var a DeployAnswer
	body := DeployBody{
		Services: req.Services, ConfigFiles: req.Ref.ConfigFiles, WorkingDir: req.Ref.WorkingDir,
		EnvFiles: req.Ref.EnvFiles, Profiles: req.Ref.Profiles, User: req.User, Build: req.Build, NoWait: req.NoWait,
		Stack: req.Ref.Stack,
	}
	name := req.Ref.Name
	if name == "" {
		name = "-" // the compose model names it
	}
	if err := c.do(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(name)+"/deploy", body, &a); err != nil {
		return forge.Deploy{}, err
	}
	return a.Deploy, failure(a.Deploy)
}

// Rollback asks the daemon to roll back now and waits for the outcome.
func (c *Client) Rollback(ctx context.Context, req dispatch.RollbackRequest) (forge.Deploy, error) {
	var a DeployAnswer
	body := RollbackBody{To: req.To, Services: req.Services, User: req.User, NoWait: req.NoWait, ImagesOnly: req.ImagesOnly}
	if err := c.do(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(req.Project)+"/rollback", body, &a); err != nil {
		return forge.Deploy{}, err
	}
	return a.Deploy, failure(a.Deploy)
}

func failure(d forge.Deploy) error {
	if d.Status == forge.StatusSucceeded {
		return nil
	}
	return &dispatch.Failure{Deploy: d}
}

// Lock returns the project's images as of a successful deploy (0: the
// newest).
func (c *Client) Lock(ctx context.Context, project string, deploy uint64) (dispatch.Lock, error) {
	var l dispatch.Lock
	path := "/api/projects/" + url.PathEscape(project) + "/lock"
	if deploy != 0 {
		path += fmt.Sprintf("?deploy=%d", deploy)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &l)
	return l, err
}

// History returns a project's deploys, newest first.
func (c *Client) History(ctx context.Context, project string, limit int) ([]forge.Deploy, error) {
	var h []forge.Deploy
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/projects/%s/history?limit=%d", url.PathEscape(project), limit), nil, &h)
	return h, err
}

// Projects lists the projects the daemon knows.
func (c *Client) Projects(ctx context.Context) ([]ProjectStatus, error) {
	var ps []ProjectStatus
	err := c.do(ctx, http.MethodGet, "/api/projects", nil, &ps)
	return ps, err
}

// Diff asks the daemon what changed in a project's configuration.
func (c *Client) Diff(ctx context.Context, project, from, to string) (dispatch.Diff, error) {
	var d dispatch.Diff
	v := url.Values{"from": {from}}
	if to != "" {
		v.Set("to", to)
	}
	err := c.do(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(project)+"/diff?"+v.Encode(), nil, &d)
	return d, err
}

// Forget asks the daemon to delete what the ledger keeps of a project.
func (c *Client) Forget(ctx context.Context, project string, force bool) (ledger.Forgotten, error) {
	var out ledger.Forgotten
	err := c.do(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(project)+"/forget", ForgetBody{Force: force}, &out)
	return out, err
}

// Project returns one project's status.
func (c *Client) Project(ctx context.Context, name string) (ProjectStatus, error) {
	var p ProjectStatus
	err := c.do(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(name), nil, &p)
	return p, err
}

// IsNotFound reports whether err is the daemon's or the ledger's "not found".
func IsNotFound(err error) bool {
	if re, ok := errors.AsType[*RemoteError](err); ok {
		return re.Status == http.StatusNotFound
	}
	// In-process (Local), the same errors the daemon answers 404 for.
	return errors.Is(err, ledger.ErrNotFound) || errors.Is(err, dispatch.ErrUnknownProject)
}
