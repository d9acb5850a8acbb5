package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed messages/*.json
var messageFiles embed.FS

// Languages are the page's languages, the first the default.
var Languages = []string{"en", "ru"}

// Catalog is one language's messages by key. Keys are named for the place
// they are shown (history.rollback.confirm), not for their English words. A
// message's {0}, {1}, … are its arguments. Plural messages have keys ending
// .one, .few, .many and .other, chosen by the language's rule.
type Catalog map[string]string

// loadCatalogs reads every language's catalogue.
func loadCatalogs() (map[string]Catalog, error) {
	out := map[string]Catalog{}
	for _, lang := range Languages {
		b, err := messageFiles.ReadFile("messages/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("messages %s: %w", lang, err)
		}
		c := Catalog{}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("messages %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// Keys returns a catalogue's keys, sorted.
func (c Catalog) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Russian})

// langCookie keeps the language a person chose with the page's switch.
const langCookie = "forge_lang"

// pickLanguage chooses the page's language: the person's choice, else the
// browser's Accept-Language, else English.
func pickLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, l := range Languages {
			if c.Value == l {
				return l
			}
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	return Languages[i]
}

// Locale renders messages, numbers and dates in one language.
type Locale struct {
	Lang    string
	msgs    Catalog
	printer *message.Printer
	zone    *time.Location
}

func newLocale(lang string, c Catalog, zone *time.Location) *Locale {
	return &Locale{Lang: lang, msgs: c, printer: message.NewPrinter(language.MustParse(lang)), zone: zone}
}

// T is the message key with its arguments; a key the catalogue lacks shows
// as itself, which the catalogue test catches.
func (l *Locale) T(key string, args ...any) string {
	s, ok := l.msgs[key]
	if !ok {
		return key
	}
	for i, a := range args {
		s = strings.ReplaceAll(s, fmt.Sprintf("{%d}", i), fmt.Sprint(a))
	}
	return s
}

// N is the plural message key for count n (n is its {0}).
func (l *Locale) N(key string, n int, args ...any) string {
	return l.T(key+"."+l.pluralForm(n), append([]any{l.Int(n)}, args...)...)
}

// pluralForm is CLDR's cardinal rule for the page's languages.
func (l *Locale) pluralForm(n int) string {
	if n < 0 {
		n = -n
	}
	if l.Lang != "ru" {
		if n == 1 {
			return "one"
		}
		return "other"
	}
	switch d, dd := n%10, n%100; {
	case d == 1 && dd != 11:
		return "one"
	case d >= 2 && d <= 4 && (dd < 12 || dd > 14):
		return "few"
	}
	return "many"
}

// Int is n with the language's digit grouping.
func (l *Locale) Int(n int) string { return l.printer.Sprintf("%d", n) }

// Float is f with one decimal, in the language's notation.
func (l *Locale) Float(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return l.printer.Sprintf("%.1f", f)
}

// Percent is a CPU percentage.
func (l *Locale) Percent(f float64) string { return l.T("unit.percent", l.Float(f)) }

// Bytes is a size in the largest binary unit that keeps it at 1 or more.
func (l *Locale) Bytes(b uint64) string {
	units := []string{"unit.b", "unit.kib", "unit.mib", "unit.gib", "unit.tib"}
	v, i := float64(b), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return l.T(units[0], l.Int(int(b)))
	}
	return l.T(units[i], l.Float(v))
}

// Date is an instant in the server's zone: the day in the language's
// words, and the time.
func (l *Locale) Date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	t = t.In(l.zone)
	return l.T("date.format", t.Day(), l.T(fmt.Sprintf("date.month.%d", int(t.Month()))), t.Year(), t.Format("15:04:05"))
}

// Ago is how long before now t was, in words.
func (l *Locale) Ago(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return l.T("ago.now")
	case d < time.Hour:
		return l.N("ago.minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return l.N("ago.hours", int(d/time.Hour))
	}
	return l.N("ago.days", int(d/(24*time.Hour)))
}

// Duration is a deploy's length.
func (l *Locale) Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return l.T("unit.ms", l.Int(int(d/time.Millisecond)))
	case d < time.Minute:
		return l.T("unit.s", l.Float(d.Seconds()))
	}
	return l.T("unit.min", l.Float(d.Minutes()))
}
