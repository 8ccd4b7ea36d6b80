package i18n

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Lang is a supported language's code: "en", "de" or "fr".
type Lang string

const (
	English Lang = "en"
	German  Lang = "de"
	French  Lang = "fr"
)

// Supported lists the languages, English first (the fallback).
var Supported = []Lang{English, German, French}

// Names are the languages' own names, for the language switch.
var Names = map[Lang]string{English: "English", German: "Deutsch", French: "Français"}

var tags = map[Lang]language.Tag{English: language.English, German: language.German, French: language.French}

var matcher = language.NewMatcher([]language.Tag{language.English, language.German, language.French})

// Parse returns the supported language a code names ("de", "de-CH", "FR"), and false for others.
func Parse(code string) (Lang, bool) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 35 {
		return "", false
	}
	t, err := language.Parse(code)
	if err != nil {
		return "", false
	}
	base, _ := t.Base()
	for _, l := range Supported {
		if b, _ := tags[l].Base(); b == base {
			return l, true
		}
	}
	return "", false
}

// FromUILocales picks the first supported language of OIDC's ui_locales (space-separated BCP 47
// tags, in order of preference; OpenID Connect Core §3.1.2.1).
func FromUILocales(v string) (Lang, bool) {
	for _, code := range strings.Fields(v) {
		if l, ok := Parse(code); ok {
			return l, true
		}
	}
	return "", false
}

// FromAcceptLanguage picks the best supported language for an Accept-Language header, English
// when none fits.
func FromAcceptLanguage(header string) Lang {
	if len(header) > 512 {
		header = header[:512]
	}
	prefs, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(prefs) == 0 {
		return English
	}
	_, i, conf := matcher.Match(prefs...)
	if conf == language.No {
		return English
	}
	return Supported[i]
}

// Tag is the language's BCP 47 tag.
func (l Lang) Tag() language.Tag { return tags[l] }

type ctxKey struct{}

// WithLang stores the request's language in the context.
func WithLang(ctx context.Context, l Lang) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request's language, English when none was chosen.
func FromContext(ctx context.Context) Lang {
	if l, ok := ctx.Value(ctxKey{}).(Lang); ok {
		return l
	}
	return English
}

//go:embed locales/*.json
var localeFS embed.FS

// pattern recognises an English text formatted from a key with verbs (%d, %s, %v).
type pattern struct {
	key string
	re  *regexp.Regexp
}

type catalogs struct {
	printers     map[Lang]*message.Printer
	translations map[Lang]map[string]string
	patterns     []pattern
}

var (
	loadOnce sync.Once
	loaded   *catalogs
	loadErr  error
)

var verbRE = regexp.MustCompile(`%[dsv]`)

func load() (*catalogs, error) {
	loadOnce.Do(func() {
		c := &catalogs{printers: map[Lang]*message.Printer{}, translations: map[Lang]map[string]string{}}
		b := catalog.NewBuilder(catalog.Fallback(language.English))
		keys := map[string]bool{}
		for _, l := range Supported[1:] {
			raw, err := localeFS.ReadFile("locales/" + string(l) + ".json")
			if err != nil {
				loadErr = fmt.Errorf("i18n: %w", err)
				return
			}
			m := map[string]string{}
			if err := json.Unmarshal(raw, &m); err != nil {
				loadErr = fmt.Errorf("i18n: locales/%s.json: %w", l, err)
				return
			}
			c.translations[l] = m
			for k, v := range m {
				if err := b.SetString(tags[l], k, v); err != nil {
					loadErr = fmt.Errorf("i18n: locales/%s.json %q: %w", l, k, err)
					return
				}
				keys[k] = true
			}
		}
		for k := range keys {
			if err := b.SetString(language.English, k, k); err != nil {
				loadErr = fmt.Errorf("i18n: %q: %w", k, err)
				return
			}
			if verbRE.MatchString(k) {
				parts := verbRE.Split(k, -1)
				for i := range parts {
					parts[i] = regexp.QuoteMeta(parts[i])
				}
				c.patterns = append(c.patterns, pattern{key: k, re: regexp.MustCompile("^" + strings.Join(parts, "(.+?)") + "$")})
			}
		}
		// Longer keys first: the most specific pattern wins.
		sort.Slice(c.patterns, func(i, j int) bool { return len(c.patterns[i].key) > len(c.patterns[j].key) })
		for _, l := range Supported {
			c.printers[l] = message.NewPrinter(tags[l], message.Catalog(b))
		}
		loaded = c
	})
	return loaded, loadErr
}

// Load parses the catalogs; a start-up check (a broken catalog is a build mistake).
func Load() error {
	_, err := load()
	return err
}

// T translates the English format text into l and formats it with args.
func T(l Lang, format string, args ...any) string {
	if len(args) == 0 {
		return Translate(l, format)
	}
	c, err := load()
	if err != nil {
		return fmt.Sprintf(format, args...)
	}
	return c.printers[l].Sprintf(format, args...)
}

// Translate translates an English text into l: the text as it stands, or one formatted from a
// key with verbs ("Use at least 15 characters." from "Use at least %d characters."). A text
// without a translation stays English.
func Translate(l Lang, text string) string {
	c, err := load()
	if err != nil || text == "" {
		return text
	}
	if l == English {
		return text
	}
	if v, ok := c.translations[l][text]; ok {
		return v
	}
	for _, p := range c.patterns {
		m := p.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		vals := make([]any, len(m)-1)
		for i, s := range m[1:] {
			vals[i] = Translate(l, s) // "in 45 seconds", "2 tries": fragments have keys too
		}
		tr, ok := c.translations[l][p.key]
		if !ok {
			break
		}
		// Every verb becomes %s: the values were already formatted in English.
		return fmt.Sprintf(verbRE.ReplaceAllString(tr, "%s"), vals...)
	}
	return text
}

// Keys returns every key of l's catalog (for the completeness test).
func Keys(l Lang) []string {
	c, err := load()
	if err != nil {
		return nil
	}
	var out []string
	for k := range c.translations[l] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Has reports whether l has a translation for the English text key.
func Has(l Lang, key string) bool {
	if l == English {
		return true
	}
	c, err := load()
	if err != nil {
		return false
	}
	_, ok := c.translations[l][key]
	return ok
}
