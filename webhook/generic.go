package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/distribution/reference"

	"github.com/docker-forge/docker-forge"
)

// genericPush is the body of POST /hooks/generic, for CI jobs and scripts:
//
//	{"image": "registry.example.com/shop/web", "tag": "1.4", "digest": "sha256:…"}
//
// image may carry the tag itself (shop/web:1.4); tag defaults to "latest";
// digest is optional (forge then resolves it from the registry). It is signed
// with HMAC-SHA256 of the raw body in X-Forge-Signature-256: sha256=<hex>.
// X-Forge-Delivery, when sent, names the delivery.
type genericPush struct {
	Image  string `json:"image"`
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
}

func parseGeneric(h http.Header, body []byte) ([]forge.Event, string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p genericPush
	if err := dec.Decode(&p); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "", errors.New("decode: data after the JSON object")
	}
	if p.Image == "" {
		return nil, "", errors.New(`"image" is required`)
	}
	named, err := reference.ParseNormalizedNamed(p.Image)
	if err != nil {
		return nil, "", fmt.Errorf("image %q: %w", p.Image, err)
	}
	tag := p.Tag
	if t, ok := named.(reference.Tagged); ok {
		if tag != "" && tag != t.Tag() {
			return nil, "", fmt.Errorf("image %q and tag %q disagree", p.Image, p.Tag)
		}
		tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		if p.Digest != "" && p.Digest != d.Digest().String() {
			return nil, "", fmt.Errorf("image %q and digest %q disagree", p.Image, p.Digest)
		}
		p.Digest = d.Digest().String()
	}
	if tag == "" {
		tag = "latest"
	}
	if err := checkTag(tag); err != nil {
		return nil, "", err
	}
	if err := checkDigest(p.Digest); err != nil {
		return nil, "", err
	}
	delivery := cleanDelivery(h.Get("X-Forge-Delivery"))
	if delivery == "" {
		sum := sha256.Sum256(body)
		delivery = "sha256:" + hex.EncodeToString(sum[:8])
	}
	return []forge.Event{{
		Kind:       forge.KindImage,
		Provider:   "generic",
		Repository: named.Name(),
		Tag:        tag,
		Digest:     p.Digest,
		Delivery:   delivery,
	}}, "", nil
}
