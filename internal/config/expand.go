package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// expand substitutes ${NAME} references in a scalar's value from the
// environment. It works on parsed scalars rather than on the raw text so
// that a value can never change the YAML structure around it (a quote or
// line break in a secret stays part of the secret), line numbers stay
// those of the file, and references in comments are ignored.
//
// Only ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]* is expanded; any
// other "$" is kept as written. Every unset variable is reported. The node
// is never modified: a copy is returned, so an anchored value used through
// several aliases is expanded exactly once per use.
func (d *decoder) expand(n *yaml.Node, path string) (*yaml.Node, bool) {
	if !strings.Contains(n.Value, "${") {
		return n, true
	}
	var b strings.Builder
	ok := true
	s := n.Value
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 || !isEnvName(s[i+2:i+2+end]) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		name := s[i+2 : i+2+end]
		b.WriteString(s[:i])
		if v, set := d.env(name); set {
			b.WriteString(v)
		} else {
			ok = false
			d.fail(refLine(n, len(n.Value)-len(s)+i), path, "${%s} is not set", name)
		}
		s = s[i+2+end+1:]
	}
	if !ok {
		return n, false
	}
	m := *n
	m.Value = b.String()
	if m.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain scalar is typed by its final text: "${PORT}" may
		// become an integer.
		m.Tag = ""
	}
	return &m, true
}

// refLine is the line of the byte at offset in n's value: exact for literal
// block scalars, whose line breaks are kept; the scalar's first line
// otherwise.
func refLine(n *yaml.Node, offset int) int {
	if n.Style&yaml.LiteralStyle != 0 {
		return n.Line + 1 + strings.Count(n.Value[:offset], "\n")
	}
	return n.Line
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
