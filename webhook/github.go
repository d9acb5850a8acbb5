package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/docker-forge/docker-forge"
)

// githubPush is the part of GitHub's push event that docker-forge reads.
// After is the new value of the ref: for an annotated tag that is the tag
// object, and head_commit names the commit it points to.
type githubPush struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
}

// parseGitHub turns a GitHub push event into one git event. Pings, deleted
// refs and every other event type are ignored.
func parseGitHub(h http.Header, body []byte) ([]forge.Event, string, error) {
	event, payload, err := gitDelivery(h, body, "X-GitHub-Event", "push")
	if err != nil {
		return nil, "", err
	}
	switch event {
	case "push":
	case "ping":
		return nil, "ping", nil
	default:
		return nil, notPush(event), nil
	}
	var p githubPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, "", fmt.Errorf("decode push: %w", err)
	}
	var peeled string
	if p.HeadCommit != nil {
		peeled = p.HeadCommit.ID
	}
	return gitPush("github", p.Repository.FullName, p.Repository.CloneURL, p.Ref, p.After, peeled, p.Deleted)
}

// The helpers below are shared by every git provider: GitHub's push event is
// the one the others (Gitea, Forgejo, Gogs) imitate.

// gitDelivery returns the event type named by header and the JSON payload of
// a delivery, sent either as the body itself or, with the content type
// application/x-www-form-urlencoded (GitHub's default), as its "payload" field.
// A form body without that field is taken as JSON: curl -d labels JSON so.
//
// decoded names the event types the caller decodes in full (and so checks);
// the payload of any other type is checked here, so a malformed body is a 400
// even when its event is ignored.
func gitDelivery(h http.Header, body []byte, header string, decoded ...string) (event string, payload []byte, err error) {
	event = strings.TrimSpace(h.Get(header))
	if event == "" {
		return "", nil, fmt.Errorf("missing %s header", header)
	}
	payload = body
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil && form.Has("payload") {
			payload = []byte(form.Get("payload"))
		}
	}
	if !slices.Contains(decoded, event) {
		// Unmarshal checks the whole payload before it decodes, so the
		// syntax error says where the JSON breaks.
		var v struct{}
		if err := json.Unmarshal(payload, &v); err != nil {
			return "", nil, fmt.Errorf("decode: %w", err)
		}
	}
	return event, payload, nil
}

// notPush is the ignored reason for a delivery of another event type. The
// name comes from a header, so it is bounded before it reaches a log line.
func notPush(event string) string {
	return "not a push event: " + printable(event, 64)
}

// printable returns at most n characters of s, each one that is not
// printable ASCII replaced by "?".
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r < ' ' || r >= 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// gitPush checks one ref update and turns it into an event: repo is the
// forge's owner/name path, ref the full ref name, after its new value, and
// peeled, when the forge sends it, the commit an annotated tag points to. A
// deleted ref, or one that is neither a branch nor a tag, is ignored.
func gitPush(provider, repo, cloneURL, ref, after, peeled string, deleted bool) ([]forge.Event, string, error) {
	ev, ignored, err := gitRef(provider, repo, cloneURL, ref, after, peeled, deleted)
	if err != nil || ignored != "" {
		return nil, ignored, err
	}
	return []forge.Event{ev}, "", nil
}

// gitRef is gitPush for one of several ref updates in a delivery.
func gitRef(provider, repo, cloneURL, ref, after, peeled string, deleted bool) (forge.Event, string, error) {
	if err := checkRepoPath(repo); err != nil {
		return forge.Event{}, "", err
	}
	branch, tag, err := splitRef(ref)
	if err != nil {
		return forge.Event{}, "", err
	}
	if deleted || isZeroCommit(after) {
		return forge.Event{}, refKind(branch, tag) + " deleted", nil
	}
	if branch == "" && tag == "" {
		return forge.Event{}, "ref " + short(ref) + " is neither a branch nor a tag", nil
	}
	commit := after
	if tag != "" && peeled != "" {
		commit = peeled
	}
	if err := checkCommit(commit); err != nil {
		return forge.Event{}, "", err
	}
	return forge.Event{
		Kind:       forge.KindGit,
		Provider:   provider,
		Repository: repo,
		Ref:        ref,
		Branch:     branch,
		Tag:        tag,
		Commit:     commit,
		CloneURL:   cleanCloneURL(cloneURL),
	}, "", nil
}

// cleanCloneURL keeps a clone URL that git can fetch over http(s), ssh or
// git (or the scp-like user@host:path form), and drops anything else.
func cleanCloneURL(s string) string {
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		switch u.Scheme {
		case "http", "https", "ssh", "git":
			return s
		}
		return ""
	}
	if user, rest, ok := strings.Cut(s, "@"); ok && user != "" && strings.Contains(rest, ":") && !strings.Contains(s, "://") {
		return s
	}
	return ""
}

// refKind names a ref for an ignored reason: "branch main", "tag v1.2".
func refKind(branch, tag string) string {
	switch {
	case branch != "":
		return "branch " + short(branch)
	case tag != "":
		return "tag " + short(tag)
	}
	return "ref"
}

// short bounds a checked ref name for an ignored reason, which is logged.
func short(name string) string {
	const n = 100
	if len(name) <= n {
		return name
	}
	i := n
	for i > 0 && !utf8.RuneStart(name[i]) {
		i--
	}
	return name[:i] + "…"
}

// commitHex matches a full object name: SHA-1 (40 hex) or SHA-256 (64 hex).
var commitHex = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

func checkCommit(c string) error {
	if !commitHex.MatchString(c) {
		return fmt.Errorf("commit %.80q is not a full SHA-1 or SHA-256 object name", c)
	}
	return nil
}

// isZeroCommit reports whether c is the all-zero object name that git
// forges send as the new value of a deleted ref.
func isZeroCommit(c string) bool {
	return (len(c) == 40 || len(c) == 64) && strings.Trim(c, "0") == ""
}

// repoSegment is one segment of a forge's owner/name path: the characters
// GitHub, GitLab, Gitea, Gogs and Bitbucket all allow in names and slugs.
var repoSegment = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// checkRepoPath checks a forge's owner/name path (GitLab: group/subgroup/…/name).
func checkRepoPath(p string) error {
	if p == "" {
		return errors.New("no repository name")
	}
	segs := strings.Split(p, "/")
	if len(p) > 1024 || len(segs) < 2 {
		return fmt.Errorf("repository %.80q is not an owner/name path", p)
	}
	for _, s := range segs {
		if !repoSegment.MatchString(s) || s == "." || s == ".." {
			return fmt.Errorf("repository %.80q is not an owner/name path", p)
		}
	}
	return nil
}

// splitRef checks a full ref name with git's check-ref-format rules and
// returns its branch or tag name; both are empty for other refs (notes, …).
func splitRef(ref string) (branch, tag string, err error) {
	if !strings.HasPrefix(ref, "refs/") {
		return "", "", fmt.Errorf("ref %.80q is not a full ref name", ref)
	}
	if err := checkRefFormat(ref); err != nil {
		return "", "", fmt.Errorf("ref %.80q: %w", ref, err)
	}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return b, "", nil
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return "", t, nil
	}
	return "", "", nil
}

// checkRefFormat applies the rules of git check-ref-format to a full ref
// name. A forge only sends names git accepted, so anything else is forged.
func checkRefFormat(ref string) error {
	switch {
	case len(ref) > 1024 || !utf8.ValidString(ref):
		return errors.New("too long or not UTF-8")
	case strings.ContainsAny(ref, " ~^:?*[\\\x7f"):
		return errors.New("contains a character git forbids")
	case strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//"):
		return errors.New(`contains "..", "@{" or "//"`)
	case strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, "."):
		return errors.New(`ends with "/" or "."`)
	}
	for _, r := range ref {
		if r < ' ' {
			return errors.New("contains a control character")
		}
	}
	for _, c := range strings.Split(ref, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return errors.New(`a component starts with "." or ends with ".lock"`)
		}
	}
	return nil
}
