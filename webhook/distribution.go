package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
)

// distributionEnvelope is the Distribution registry's notification body: a
// batch of unrelated events. Only manifest pushes by tag trigger deploys.
type distributionEnvelope struct {
	Events *[]distributionEvent `json:"events"`
}

type distributionEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// manifestTypes are the media types of image manifests and indexes; a push of
// anything else (layer blobs, configs) is not a deploy trigger.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v1+json":      true,
	"application/vnd.docker.distribution.manifest.v1+prettyjws": true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// parseDistribution turns a notification envelope into one event per
// manifest push by tag, in order.
func parseDistribution(_ http.Header, body []byte) ([]forge.Event, string, error) {
	var env distributionEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, "", fmt.Errorf("decode envelope: %w", err)
	}
	if env.Events == nil {
		return nil, "", errors.New(`no "events" array`)
	}
	var (
		events   []forge.Event
		firstErr error
	)
	skipped := map[string]int{}
	for i, e := range *env.Events {
		switch {
		case e.Action != "push":
			skipped[e.Action]++
			continue
		case !manifestTypes[e.Target.MediaType]:
			skipped["blob push"]++
			continue
		case e.Target.Tag == "":
			skipped["untagged manifest push"]++
			continue
		}
		ev, err := distributionPush(e)
		if err != nil {
			// One bad event must not hold back the valid pushes batched
			// with it: the registry would retry the envelope forever.
			skipped["invalid manifest push"]++
			if firstErr == nil {
				firstErr = fmt.Errorf("event %d: %w", i, err)
			}
			continue
		}
		events = append(events, ev)
	}
	if len(events) == 0 && firstErr != nil {
		// Authenticated but unusable: answered 200 with the reason, since
		// a registry retries anything else forever and holds back every
		// notification behind it.
		return nil, ignoredReason(skipped) + " (first: " + printable(firstErr.Error(), 120) + ")", nil
	}
	if len(events) == 0 {
		return nil, ignoredReason(skipped), nil
	}
	return events, "", nil
}

// distributionPush turns one manifest push event into a forge event.
func distributionPush(e distributionEvent) (forge.Event, error) {
	host := e.Request.Host
	if host == "" {
		if u, err := url.Parse(e.Target.URL); err == nil {
			host = u.Host
		}
	}
	if host == "" {
		return forge.Event{}, errors.New("no registry host in request.host or target.url")
	}
	repo, err := normalizeRepository(host + "/" + e.Target.Repository)
	if err != nil {
		return forge.Event{}, err
	}
	if err := checkTag(e.Target.Tag); err != nil {
		return forge.Event{}, err
	}
	if err := checkDigest(e.Target.Digest); err != nil {
		return forge.Event{}, err
	}
	return forge.Event{
		Kind:       forge.KindImage,
		Provider:   "distribution",
		Repository: repo,
		Tag:        e.Target.Tag,
		Digest:     e.Target.Digest,
		Delivery:   cleanDelivery(e.ID),
	}, nil
}

// cleanDelivery bounds a delivery id taken from a request: at most 128
// printable ASCII characters, so it is safe in a log line and the ledger.
func cleanDelivery(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 128 {
			break
		}
		if r > ' ' && r < 0x7f {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ignoredReason says, in a stable order, what an envelope held instead of
// manifest pushes.
func ignoredReason(skipped map[string]int) string {
	if len(skipped) == 0 {
		return "no events"
	}
	var parts []string
	for _, k := range []string{"pull", "blob push", "untagged manifest push", "invalid manifest push", "delete", "mount"} {
		if n := skipped[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
			delete(skipped, k)
		}
	}
	// Other actions are counted, not named: the names come from the body, and
	// the reason is logged and must stay short and in a stable order.
	other := 0
	for _, n := range skipped {
		other += n
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d other action", other))
	}
	return "no manifest push: " + strings.Join(parts, ", ")
}

// normalizeRepository returns the fully qualified repository name, as
// distribution/reference normalizes it.
func normalizeRepository(name string) (string, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("repository %q: %w", name, err)
	}
	if _, tagged := named.(reference.Tagged); tagged {
		return "", fmt.Errorf("repository %q carries a tag", name)
	}
	if _, digested := named.(reference.Digested); digested {
		return "", fmt.Errorf("repository %q carries a digest", name)
	}
	return named.Name(), nil
}

// anchoredTag and anchoredDigest match a whole tag or sha256 digest;
// reference.TagRegexp and reference.DigestRegexp are not anchored, so they
// accept any string that merely contains a valid one.
var (
	anchoredTag    = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)
	anchoredDigest = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

func checkTag(tag string) error {
	if !anchoredTag.MatchString(tag) || len(tag) > 128 {
		return fmt.Errorf("invalid tag %q", tag)
	}
	return nil
}

func checkDigest(d string) error {
	if d == "" {
		return nil
	}
	if !anchoredDigest.MatchString(d) {
		return fmt.Errorf("invalid digest %q", d)
	}
	return nil
}
