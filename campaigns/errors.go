package campaigns

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong in a campaign file.
type Problem struct {
	File  string
	Line  int
	Field string // dotted path, e.g. do[2].send_template.template_id
	Why   string
}

// String formats p as file:line: field: why.
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Why)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Field, p.Why)
}

// Problems is every problem of a refused set. It is an error.
type Problems []Problem

// Error lists the problems one a line, sorted by file and line.
func (ps Problems) Error() string {
	ps.sort()
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}
