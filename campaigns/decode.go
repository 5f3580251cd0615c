package campaigns

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks yaml nodes of one file, collecting problems with their lines.
type decoder struct {
	file     string
	problems *Problems
}

func (d *decoder) bad(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	*d.problems = append(*d.problems, Problem{File: d.file, Line: line, Field: field, Why: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields calls the handler for each key of mapping n; unknown keys and
// duplicated keys are problems, and so are missing required keys.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, field string), required ...string) bool {
	if n.Kind != yaml.MappingNode {
		d.bad(n, path, "want a mapping (key: value), got %s", kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if seen[k.Value] {
			d.bad(k, field, "given twice")
			continue
		}
		seen[k.Value] = true
		h, ok := handlers[k.Value]
		if !ok {
			d.bad(k, field, "unknown field%s", suggest(k.Value, handlers))
			continue
		}
		h(v, field)
	}
	for _, r := range required {
		if !seen[r] {
			d.bad(n, join(path, r), "is required")
		}
	}
	return true
}

func suggest(key string, handlers map[string]func(*yaml.Node, string)) string {
	best, bestD := "", 3
	for k := range handlers {
		// Ties go to the first name in sort order, so messages are stable.
		if dd := editDistance(key, k); dd < bestD || dd == bestD && k < best {
			best, bestD = k, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func (d *decoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.bad(n, field, "want a value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// str reads a text value into dst, reporting whether it was one.
func (d *decoder) str(n *yaml.Node, field string, dst *string) bool {
	s, ok := d.scalar(n, field)
	if !ok {
		return false
	}
	if n.Tag == "!!bool" && n.Style == 0 {
		d.bad(n, field, "want text, got %s (quote it)", n.Value)
		return false
	}
	*dst = s
	return true
}

// name reads a text that may not be empty: a reference to a pool, a tag, a
// template id.
func (d *decoder) name(n *yaml.Node, field string, dst *string) bool {
	var s string
	if !d.str(n, field, &s) {
		return false
	}
	if strings.TrimSpace(s) == "" {
		d.bad(n, field, "is empty")
		return false
	}
	*dst = s
	return true
}

func (d *decoder) integer(n *yaml.Node, field string, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err == nil && n.Tag == "!!str" && n.Style != 0 {
		d.bad(n, field, "want a whole number, got the text %q (unquote it)", s)
		return 0, false
	}
	if err != nil {
		d.bad(n, field, "want a whole number, got %q", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.bad(n, field, "must be between %d and %d, got %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

func (d *decoder) number(n *yaml.Node, field string, lo, hi float64) (float64, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.bad(n, field, "want a number, got %q", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.bad(n, field, "must be between %g and %g, got %g", lo, hi, v)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.bad(n, field, "want true or false, got %q", s)
	return false, false
}

// duration parses Go durations plus a d (24h) unit: 720h, 30d, 1h30m.
func (d *decoder) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.bad(n, field, "%q is not a duration such as 90s, 24h or 30d", s)
		return 0, false
	}
	if v <= 0 {
		d.bad(n, field, "must be positive, got %s", s)
		return 0, false
	}
	return v, true
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (d *decoder) timestamp(n *yaml.Node, field string) (time.Time, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		d.bad(n, field, "%q is not a time with a zone such as 2026-12-01T00:00:00+08:00", s)
		return time.Time{}, false
	}
	return t, true
}

func (d *decoder) strings(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		d.bad(n, field, "want a list, got %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, it := range n.Content {
		var s string
		d.str(it, fmt.Sprintf("%s[%d]", field, i), &s)
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// text parses a templated text field.
func (d *decoder) text(n *yaml.Node, field string) *Text {
	var s string
	d.str(n, field, &s)
	t, err := newText(s)
	if err != nil {
		d.bad(n, field, "bad template: %v", cleanTemplateErr(err))
		return nil
	}
	t.Line = n.Line
	return t
}
