package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

var (
	// ErrInvalid is matched (with errors.Is) by every *Error: the
	// configuration was read but is not acceptable.
	ErrInvalid = errors.New("config: invalid configuration")
	// ErrNoCodes is returned for a codes list without a single code.
	ErrNoCodes = errors.New("config: no codes")
	// ErrInvalidCode is matched by every *CodeError: a line of a codes
	// list that is not a code.
	ErrInvalidCode = errors.New("config: invalid code")
)

// Problem is one thing wrong with a configuration, located as precisely as
// the input allows: File and Line of the offending YAML value (or of its key
// when the value is missing), and the dotted Path of the setting, e.g.
// "sources[0].secrets[1]". For a value that came from the environment File
// is the variable, e.g. "$DROPWIRE_PUBLIC_URL", and Line is 0.
//
// Msg never contains a secret; it names the field instead.
type Problem struct {
	File string
	Line int
	Path string
	Msg  string
}

// String formats p as "file:line: path: message", leaving out the parts
// that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in one configuration. Problems are sorted by
// file and line, problems without a line last.
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// sortProblems orders problems by file, then line; problems without a line
// keep their relative order after the located ones of the same file.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		return a.Line < b.Line
	})
}
