package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker-forge/docker-forge"
)

// bitbucketPush is the part of Bitbucket Cloud's repo:push event that
// docker-forge reads: one change per ref the push updated. A deleted ref has
// new: null; new names the ref by its short name and type.
type bitbucketPush struct {
	Push *struct {
		Changes []struct {
			New *struct {
				Type   string `json:"type"`
				Name   string `json:"name"`
				Target struct {
					Hash string `json:"hash"`
				} `json:"target"`
			} `json:"new"`
			Old *struct {
				Type string `json:"type"`
				Name string `json:"name"`
			} `json:"old"`
		} `json:"changes"`
	} `json:"push"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// parseBitbucket turns a Bitbucket Cloud repo:push event into one git event
// per branch or tag it updated, in order; deletions are left out. Every
// other event, Bitbucket Data Center's repo:refs_changed included, is
// ignored.
func parseBitbucket(h http.Header, body []byte) ([]forge.Event, string, error) {
	event, payload, err := gitDelivery(h, body, "X-Event-Key", "repo:push")
	if err != nil {
		return nil, "", err
	}
	if event != "repo:push" {
		return nil, notPush(event), nil
	}
	var p bitbucketPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, "", fmt.Errorf("decode push: %w", err)
	}
	if p.Push == nil {
		return nil, "", errors.New(`no "push" object`)
	}
	if err := checkRepoPath(p.Repository.FullName); err != nil {
		return nil, "", err
	}
	var (
		events  []forge.Event
		ignored []string
	)
	for i, c := range p.Push.Changes {
		var (
			ref, hash string
			deleted   = c.New == nil
		)
		switch {
		case c.New != nil:
			ref, hash = bitbucketRef(c.New.Type, c.New.Name), c.New.Target.Hash
		case c.Old != nil:
			ref = bitbucketRef(c.Old.Type, c.Old.Name)
		default:
			return nil, "", fmt.Errorf("change %d has neither new nor old", i)
		}
		if ref == "" {
			ignored = append(ignored, "a change that is neither a branch nor a tag")
			continue
		}
		// Bitbucket Cloud sends no clone URL; its repositories live at a fixed place.
		ev, why, err := gitRef("bitbucket", p.Repository.FullName, "https://bitbucket.org/"+p.Repository.FullName+".git", ref, hash, "", deleted)
		if err != nil {
			return nil, "", fmt.Errorf("change %d: %w", i, err)
		}
		if why != "" {
			ignored = append(ignored, why)
			continue
		}
		events = append(events, ev)
	}
	if len(events) > 0 {
		return events, "", nil
	}
	if len(ignored) == 0 {
		return nil, "push without changes", nil
	}
	return nil, joinReasons(ignored), nil
}

// bitbucketRef returns the full ref name of a Bitbucket change, or "" for a
// type that is neither a branch nor a tag (Mercurial's named branches and
// bookmarks, before Bitbucket dropped them).
func bitbucketRef(typ, name string) string {
	switch typ {
	case "branch":
		return "refs/heads/" + name
	case "tag":
		return "refs/tags/" + name
	}
	return ""
}

// joinReasons joins the reasons several changes were left out, keeping the
// answer (and the log line) short.
func joinReasons(reasons []string) string {
	const n = 3
	if len(reasons) <= n {
		return strings.Join(reasons, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(reasons[:n], ", "), len(reasons)-n)
}
