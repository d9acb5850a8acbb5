package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Fields is a service's configuration field by field: scalar fields by
// their dotted path (environment.LOG_LEVEL, healthcheck.interval), and the
// fields that are sets (ports, volumes, networks, …) as their items.
type Fields struct {
	Scalars map[string]string
	Sets    map[string][]string
}

// ordered are the lists whose order is meaning: they compare as one value.
var ordered = map[string]bool{"command": true, "entrypoint": true, "healthcheck.test": true}

// Flatten reads a service's snapshot (the compose model's JSON of it).
func Flatten(raw []byte) (Fields, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return Fields{}, fmt.Errorf("read snapshot: %w", err)
	}
	f := Fields{Scalars: map[string]string{}, Sets: map[string][]string{}}
	walk(f, "", v)
	return f, nil
}

func walk(f Fields, at string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			walk(f, join(at, k), e)
		}
	case []any:
		if ordered[at] {
			b, _ := json.Marshal(x)
			f.Scalars[at] = string(b)
			return
		}
		items := make([]string, 0, len(x))
		for _, e := range x {
			items = append(items, item(at, e))
		}
		slices.Sort(items)
		if len(items) > 0 {
			f.Sets[at] = items
		}
	case nil:
		if strings.HasPrefix(at, "environment.") {
			f.Scalars[at] = "" // a variable passed through unset
		}
	default:
		f.Scalars[at] = fmt.Sprint(x)
	}
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// item is one member of a set as a person reads it: ports as
// [ip:]published:target/protocol, volumes as source:target[:ro], other
// objects as JSON.
func item(at string, v any) string {
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	str := func(k string) string {
		if s, ok := obj[k]; ok && s != nil {
			return fmt.Sprint(s)
		}
		return ""
	}
	switch at {
	case "ports":
		s := str("target") + "/" + cmpStr(str("protocol"), "tcp")
		if p := str("published"); p != "" {
			s = p + ":" + s
		}
		if ip := str("host_ip"); ip != "" {
			s = ip + ":" + s
		}
		return s
	case "volumes":
		s := str("target")
		if src := str("source"); src != "" {
			s = src + ":" + s
		}
		if ro, _ := strconv.ParseBool(str("read_only")); ro {
			s += ":ro"
		}
		return s
	}
	b, _ := json.Marshal(obj) // map keys sorted: a stable form
	return string(b)
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Change is one field's difference between two snapshots.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	// Added and Removed are a set's items only one side has.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Secret marks a masked value that changed: neither side is shown.
	Secret bool `json:"secret,omitempty"`
}

// String is the change as a line: environment.LOG_LEVEL: info → debug,
// ports: +8443:443 -8080:80, environment.DB_PASSWORD: changed.
func (c Change) String() string {
	switch {
	case c.Secret:
		return c.Field + ": changed"
	case c.Added != nil || c.Removed != nil:
		var parts []string
		for _, a := range c.Added {
			parts = append(parts, "+"+a)
		}
		for _, r := range c.Removed {
			parts = append(parts, "-"+r)
		}
		return c.Field + ": " + strings.Join(parts, " ")
	case c.From == "" && c.To != "":
		return c.Field + ": +" + c.To
	case c.To == "" && c.From != "":
		return c.Field + ": -" + c.From
	}
	return c.Field + ": " + c.From + " → " + c.To
}

// Diff is what changed from a to b, field by field, sorted by field.
func Diff(a, b Fields) []Change {
	var out []Change
	keys := map[string]bool{}
	for k := range a.Scalars {
		keys[k] = true
	}
	for k := range b.Scalars {
		keys[k] = true
	}
	for k := range keys {
		from, inA := a.Scalars[k]
		to, inB := b.Scalars[k]
		if inA == inB && from == to {
			continue
		}
		c := Change{Field: k, From: from, To: to}
		if IsMasked(from) || IsMasked(to) {
			c = Change{Field: k, Secret: true}
		}
		out = append(out, c)
	}
	sets := map[string]bool{}
	for k := range a.Sets {
		sets[k] = true
	}
	for k := range b.Sets {
		sets[k] = true
	}
	for k := range sets {
		added, removed := minus(b.Sets[k], a.Sets[k]), minus(a.Sets[k], b.Sets[k])
		if len(added)+len(removed) > 0 {
			out = append(out, Change{Field: k, Added: added, Removed: removed})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Field, y.Field) })
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Only keeps the fields under the given top-level names: what a running
// container can be compared on.
func (f Fields) Only(names ...string) Fields {
	keep := func(k string) bool {
		top, _, _ := strings.Cut(k, ".")
		return slices.Contains(names, top)
	}
	out := Fields{Scalars: map[string]string{}, Sets: map[string][]string{}}
	for k, v := range f.Scalars {
		if keep(k) {
			out.Scalars[k] = v
		}
	}
	for k, v := range f.Sets {
		if keep(k) {
			out.Sets[k] = v
		}
	}
	return out
}

// Summary says in a few words what changes are about: digest, 2 env,
// ports, command.
func Summary(changes []Change) string {
	counts := map[string]int{}
	var order []string
	for _, c := range changes {
		top, _, nested := strings.Cut(c.Field, ".")
		word := top
		switch {
		case top == "image":
			word = "digest"
		case top == "environment":
			word = "env"
		}
		if _, ok := counts[word]; !ok {
			order = append(order, word)
		}
		if nested && (top == "environment" || top == "labels") {
			counts[word]++
		} else {
			counts[word] = max(counts[word], 1)
		}
	}
	if i := slices.Index(order, "digest"); i > 0 {
		order = append([]string{"digest"}, slices.Delete(order, i, i+1)...)
	}
	parts := make([]string, 0, len(order))
	for _, w := range order {
		if n := counts[w]; n > 1 || w == "env" || w == "labels" {
			parts = append(parts, fmt.Sprintf("%d %s", n, w))
		} else {
			parts = append(parts, w)
		}
	}
	return strings.Join(parts, ", ")
}
