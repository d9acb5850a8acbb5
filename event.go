package forge

// Kind says what an Event is about.
type Kind string

// The kinds of event.
const (
	KindImage Kind = "image"
	KindGit   Kind = "git"
)

// Event is one push, normalized from whichever registry or forge sent it.
// For images, Repository is the fully qualified name as distribution/reference
// normalizes it (docker.io/library/nginx, 127.0.0.1:5000/app); for git it is the
// forge's owner/name path and Commit the full SHA after the push.
type Event struct {
	Kind       Kind   `json:"kind"`
	Provider   string `json:"provider"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Branch     string `json:"branch,omitempty"`
	Commit     string `json:"commit,omitempty"`
	// CloneURL is where a git repository can be fetched (git events only).
	CloneURL string `json:"clone_url,omitempty"`
	Delivery string `json:"delivery,omitempty"`
}

// Image returns the event's image reference, repository:tag.
func (e Event) Image() string {
	if e.Tag == "" {
		return e.Repository
	}
	return e.Repository + ":" + e.Tag
}
