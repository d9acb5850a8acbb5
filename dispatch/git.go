package dispatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/docker-forge/docker-forge"
	"github.com/docker-forge/docker-forge/gitsrc"
)

// Git is what the dispatcher asks of forge's own checkouts of git-sourced
// projects (gitsrc.Checkouts).
type Git interface {
	Sync(ctx context.Context, project string, src gitsrc.Source, cred gitsrc.Credentials, commit string, checks ...gitsrc.Check) (gitsrc.Checkout, error)
	ChangedPaths(ctx context.Context, project, from, to string) ([]string, error)
}

// gitWant is what a deploy of a git-sourced project asks for.
type gitWant struct {
	// commit to deploy; "" means the branch tip.
	commit string
	// targets are a rollback's recorded services: the images it built and
	// the digests it pinned, reused where they still exist.
	targets []forge.ServiceDeploy
}

// Reasons recorded for git deploys: generic, safe to show and store.
const (
	reasonNoGit      = "git deploys are not configured"
	reasonNoSource   = "the project's compose file declares no x-forge repository"
	reasonGitFetch   = "git fetch failed: remote unreachable or access denied"
	reasonGitFailed  = "git checkout failed"
	reasonNoBranch   = "the branch does not exist in the repository"
	reasonForcePush  = "a force-push removed the running commit from the branch: not deployed (run docker forge deploy to deploy the branch tip)"
	reasonGitRollTo  = "a git rollback returns the whole project to a commit: name no services"
	builtTagCommitLn = 12
)

var (
	errForcePush   = errors.New("force-push removed the running commit")
	errOlderCommit = errors.New("older than the running commit")
)

// matchGit says whether a git push is for project p: its x-forge repository,
// on its branch (a tag push only when x-forge tags is true). why explains a
// push to p's repository that is not deployed.
func matchGit(p forge.Project, ev forge.Event) (ok bool, why string) {
	src := p.Source
	if src == nil || !sameRepository(src.Repository, ev) {
		return false, ""
	}
	switch {
	case ev.Tag != "" && !src.Tags:
		return false, fmt.Sprintf("%s: tag %s is not deployed (x-forge tags is false)", p.Ref.Name, ev.Tag)
	case ev.Tag == "" && ev.Branch != src.Branch:
		return false, fmt.Sprintf("%s follows branch %s, not %s", p.Ref.Name, src.Branch, ev.Branch)
	case ev.Commit == "":
		return false, fmt.Sprintf("%s: the push names no commit", p.Ref.Name)
	}
	return true, ""
}

// sameRepository compares a project's repository URL with a push: the same
// clone URL once scheme, credentials and ".git" are set aside; or, when the
// push names no clone URL, a URL whose path ends with the forge's owner/name.
func sameRepository(repo string, ev forge.Event) bool {
	want := repoKey(repo)
	if want == "" {
		return false
	}
	if ev.CloneURL != "" {
		return repoKey(ev.CloneURL) == want // the push says where it is: nothing else matches
	}
	// Without a clone URL, the path must end with the whole owner/name.
	name := strings.ToLower(strings.Trim(ev.Repository, "/"))
	return strings.Contains(name, "/") && (want == name || strings.HasSuffix(want, "/"+name))
}

// repoKey is host/path of a repository URL, lower case, without scheme,
// user info, port-less differences of scp-like URLs, or a ".git" suffix.
func repoKey(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if at := strings.Index(u, "@"); at >= 0 && strings.Contains(u[at:], ":") {
		u = strings.Replace(u[at+1:], ":", "/", 1) // git@host:owner/name
	}
	if at := strings.LastIndex(u, "@"); at >= 0 && at < strings.Index(u+"/", "/") {
		u = u[at+1:]
	}
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return strings.TrimPrefix(u, "/")
}

// lastGitDeploy is the newest successful deploy in hist (newest first) that
// recorded a commit, other than skip.
func lastGitDeploy(hist []forge.Deploy, skip uint64) forge.Deploy {
	for _, h := range hist {
		if h.ID != skip && h.Status == forge.StatusSucceeded && h.Commit != "" {
			return h
		}
	}
	return forge.Deploy{}
}

// builtTag is the tag forge gives a service it builds at a commit.
func builtTag(project, service, commit string) string {
	return fmt.Sprintf("%s-%s:%s", project, service, commit[:min(builtTagCommitLn, len(commit))])
}

// gitReason maps a checkout error to the reason recorded.
func gitReason(err error, commit, branch string) string {
	switch {
	case errors.Is(err, gitsrc.ErrNotOnBranch):
		return fmt.Sprintf("commit %s is not on branch %s", shortSHA(commit), branch)
	case errors.Is(err, gitsrc.ErrNoSuchCommit):
		return fmt.Sprintf("commit %s does not exist in the repository", shortSHA(commit))
	case errors.Is(err, gitsrc.ErrNoSuchBranch):
		return reasonNoBranch
	case errors.Is(err, gitsrc.ErrUnreachable):
		return reasonGitFetch
	}
	return reasonGitFailed
}

func shortSHA(sha string) string {
	if sha == "" {
		return "(branch tip)"
	}
	return sha[:min(12, len(sha))]
}

// repoRoot is the checkout's top directory, dir being its sub-path path.
func repoRoot(dir, p string) string {
	p = strings.Trim(path.Clean("/"+filepath.ToSlash(p)), "/") // as gitsrc cleans it
	if p == "" {
		return dir
	}
	for range strings.Split(p, "/") {
		dir = filepath.Dir(dir)
	}
	return dir
}

// convergeGit deploys a git-sourced project at a commit: it checks the
// commit out in forge's own checkout, builds the services whose build
// context or build definition changed since the commit that runs (tagged
// with the commit), pins the forge-enabled image services as a push does,
// and brings the whole project up, so compose recreates only what changed.
// Anything that fails before the project is brought up leaves the running
// services alone and the checkout where it was.
func (d *Dispatcher) convergeGit(ctx context.Context, j *job) (string, error) {
	dep := &j.deploy
	clock := d.phaseClock()
	if d.git == nil {
		return reasonNoGit, errors.New("no git checkouts configured")
	}
	cur, err := d.eng.LoadProject(ctx, j.ref)
	if err != nil {
		return d.engineReason(err, reasonLoad), err
	}
	if cur.Source == nil {
		return reasonNoSource, fmt.Errorf("project %s: no %s repository", dep.Project, forge.ExtensionKey)
	}
	src := *cur.Source
	before, err := d.eng.Running(ctx, dep.Project)
	if err != nil {
		return d.engineReason(err, reasonRunning), err
	}
	hist, err := d.led.History(dep.Project, 0)
	if err != nil {
		return "ledger read failed", err // no history, no safe comparison
	}
	last := lastGitDeploy(hist, dep.ID)
	dep.PreviousCommit = last.Commit

	gsrc := gitsrc.Source{URL: src.Repository, Branch: src.Branch, Path: src.Path}
	cred := d.gitCreds(src.Repository)
	var checks []gitsrc.Check
	if dep.Reason == forge.ReasonPush && last.Commit != "" {
		// A push never moves a project off a commit a force-push took out
		// of the branch, nor back to an older commit (a late delivery, a
		// tag on an old commit): that is for a person to decide. Checked
		// before the checkout moves; an error counts as a refusal.
		checks = append(checks, func(_ context.Context, tip, commit string, isAncestor func(a, b string) (bool, error)) error {
			if on, err := isAncestor(last.Commit, tip); err != nil || !on {
				return fmt.Errorf("%w: %s is not on %s (%v)", errForcePush, shortSHA(last.Commit), src.Branch, err)
			}
			if commit == last.Commit {
				return nil
			}
			if older, err := isAncestor(commit, last.Commit); err != nil || older {
				return fmt.Errorf("%w: %s is an ancestor of %s (%v)", errOlderCommit, shortSHA(commit), shortSHA(last.Commit), err)
			}
			return nil
		})
	}
	co, err := d.git.Sync(ctx, dep.Project, gsrc, cred, j.git.commit, checks...)
	switch {
	case errors.Is(err, errForcePush):
		return reasonForcePush, err
	case errors.Is(err, errOlderCommit):
		return fmt.Sprintf("commit %s is older than the running commit %s: not deployed", shortSHA(j.git.commit), shortSHA(last.Commit)), err
	case err != nil:
		return gitReason(err, j.git.commit, src.Branch), err
	}
	dep.Commit = co.Commit
	// The commit is on disk before anything is built: a crash from here
	// leaves a deploy Recover can run again.
	if err := d.led.Update(*dep); err != nil {
		return "ledger write failed", err
	}
	restore := func() {
		if co.Previous == "" || co.Previous == co.Commit {
			return
		}
		if _, err := d.git.Sync(context.WithoutCancel(ctx), dep.Project, gsrc, cred, co.Previous); err != nil {
			d.log.Warn("checkout not restored to the commit that runs", "project", dep.Project, "commit", shortSHA(co.Previous))
			d.log.Debug("checkout restore detail", "project", dep.Project, "error", d.scrub.String(err.Error()))
		}
	}

	j.project = cur
	ref := inCheckout(cur.Ref, co.Dir)
	p, err := d.eng.LoadProject(ctx, ref)
	if err != nil {
		restore()
		return fmt.Sprintf("the compose file does not load at commit %s", shortSHA(co.Commit)), err
	}
	j.ref, j.project = p.Ref, p

	var paths []string
	known := last.Commit != ""
	if known {
		if paths, err = d.git.ChangedPaths(ctx, dep.Project, last.Commit, co.Commit); err != nil {
			known = false // everything is built again
		}
	}
	root := repoRoot(co.Dir, src.Path)

	tags := map[string]string{} // service -> tag to build
	pins := map[string]string{} // service -> image to run
	dep.Services = dep.Services[:0]
	for _, s := range p.Services {
		sd := forge.ServiceDeploy{Service: s.Name, Image: s.Image, Previous: before[s.Name].Digest}
		target, rollback := findService(j.git.targets, s.Name)
		switch {
		case s.Build != nil:
			sd.Built, sd.BuildHash, sd.Previous = true, s.Build.Hash, before[s.Name].ImageID
			sd.Image = d.reusable(ctx, s, target, rollback, last, known, paths, root)
			if sd.Image == "" {
				sd.Image = builtTag(dep.Project, s.Name, co.Commit)
				tags[s.Name] = sd.Image
			}
			pins[s.Name] = sd.Image
		case s.Enabled() || rollback && target.Pinned != "":
			// A push that joined this deploy, a rollback's digest, or the
			// tag a semver or glob policy moved the service to: never
			// back to the compose file's tag by the way.
			w, pushed := j.services[s.Name]
			if rollback && target.Digest != "" {
				w = want{digest: target.Digest}
			} else if !pushed && s.Policy() != forge.PolicyDigest {
				w.tag = runningTag(hist, s.Name) // the history read above
			}
			if w.tag != "" {
				sd.Image = withTag(s.Image, w.tag)
			}
			pinned, reason, err := d.pin(ctx, sd.Image, w)
			if err != nil {
				dep.Services = append(dep.Services, sd)
				restore()
				return reason, fmt.Errorf("service %s: %w", s.Name, err)
			}
			sd.Pinned = pinned
			pins[s.Name] = pinned
		default:
			pins[s.Name] = s.Image // as written: compose recreates it only if its definition changed
		}
		dep.Services = append(dep.Services, sd)
	}
	if err := d.led.SaveProject(p.Ref, d.now()); err != nil {
		restore()
		return "ledger write failed", err
	}

	built := map[string]string{}
	if len(tags) > 0 {
		if built, err = d.eng.Build(ctx, j.ref, tags); err != nil {
			restore()
			return d.engineReason(err, "build failed: "+strings.Join(sortedKeys(tags), ", ")), err
		}
	}
	for i, sd := range dep.Services {
		if id, ok := built[sd.Service]; ok {
			dep.Services[i].Pinned = id
		}
	}
	// What each service is moving to is on record while the deploy runs.
	if err := d.led.Update(*dep); err != nil {
		return "ledger write failed", err
	}
	dep.Phases.Resolve = clock.lap()
	res, err := d.eng.Up(ctx, forge.UpRequest{Ref: j.ref, Pins: pins, Whole: true})
	clock.lap() // the engine splits its own time: pull, then recreate
	dep.Phases.Pull, dep.Phases.Recreate = res.Pull, res.Recreate
	d.keepSnapshots(j, res)
	if err != nil {
		if after, rerr := d.eng.Running(ctx, dep.Project); rerr == nil {
			recordPostState(dep, before, after, res.ConfigChanged)
		}
		return d.engineReason(err, reasonUp), err
	}
	after, err := d.eng.Running(ctx, dep.Project)
	if err != nil {
		return d.engineReason(err, reasonRunning), err
	}
	recordPostState(dep, before, after, res.ConfigChanged)
	// The images are checked here; whether the services came up (one-shot
	// jobs exit, scale 0 has no container) is the health gate's to judge.
	var mismatch []string
	for _, sd := range dep.Services {
		want := digestOf(sd.Pinned)
		if sd.Built {
			want = built[sd.Service]
		}
		if _, ok := after[sd.Service]; ok && want != "" && sd.Digest != want {
			mismatch = append(mismatch, fmt.Sprintf("%s runs %q, want %s", sd.Service, sd.Digest, want))
		}
	}
	dep.Phases.Verify = clock.lap()
	if len(mismatch) > 0 {
		return reasonVerify, fmt.Errorf("verify: %v", mismatch)
	}
	g := d.gate(ctx, p, dep, before, j.recovered)
	dep.Phases.Health = clock.lap()
	if !g.passed {
		return "health gate failed: " + g.why, &gateFailure{project: p, result: g}
	}
	d.removeOldImages(ctx, *dep, hist)
	return "", nil
}

// inCheckout maps a project's compose and env files into forge's checkout:
// a file under the project's working dir is taken from the same place in
// the checkout (an env file the checkout lacks, such as an untracked .env,
// is kept where it is); a file outside it is kept as it is.
func inCheckout(ref forge.ProjectRef, dir string) forge.ProjectRef {
	out := forge.ProjectRef{Name: ref.Name, WorkingDir: dir, Profiles: ref.Profiles}
	move := func(f string, mustExist bool) string {
		rel, err := filepath.Rel(ref.WorkingDir, f)
		if ref.WorkingDir == "" || err != nil || strings.HasPrefix(rel, "..") {
			return f
		}
		moved := filepath.Join(dir, rel)
		if _, err := os.Stat(moved); mustExist && err != nil {
			return f
		}
		return moved
	}
	for _, f := range ref.ConfigFiles {
		out.ConfigFiles = append(out.ConfigFiles, move(f, false))
	}
	for _, f := range ref.EnvFiles {
		out.EnvFiles = append(out.EnvFiles, move(f, true))
	}
	return out
}

// reusable returns the image a built service can run without a build: on a
// rollback, the image the target deploy ran, if the engine still has it;
// otherwise the image the running commit's deploy built, when neither the
// build definition nor a file under the build context changed since. ""
// means build.
func (d *Dispatcher) reusable(ctx context.Context, s forge.Service, target forge.ServiceDeploy, rollback bool, last forge.Deploy, known bool, paths []string, root string) string {
	if rollback {
		if target.Built && target.Image != "" {
			if id, err := d.eng.ImageID(ctx, target.Image); err == nil && id != "" && (target.Digest == "" || id == target.Digest) {
				return target.Image
			}
		}
		return ""
	}
	prev, ok := last.Service(s.Name)
	if !known || !ok || !prev.Built || prev.BuildHash != s.Build.Hash || prev.Image == "" {
		return ""
	}
	for _, in := range append([]string{s.Build.Context}, s.Build.Inputs...) {
		rel, err := filepath.Rel(root, in)
		if err != nil || strings.HasPrefix(rel, "..") {
			return "" // read from outside the repository: always built
		}
		if gitsrc.AnyUnder(paths, filepath.ToSlash(rel)) {
			return ""
		}
	}
	if id, err := d.eng.ImageID(ctx, prev.Image); err != nil || id == "" {
		return ""
	}
	return prev.Image
}

func findService(list []forge.ServiceDeploy, name string) (forge.ServiceDeploy, bool) {
	for _, s := range list {
		if s.Service == name {
			return s, true
		}
	}
	return forge.ServiceDeploy{}, false
}

// gitCreds returns the credentials configured for a repository.
func (d *Dispatcher) gitCreds(repo string) gitsrc.Credentials {
	if d.gitCredentials == nil {
		return gitsrc.Credentials{}
	}
	return d.gitCredentials(repo)
}
