package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path, expanding ${NAME} references
// from the process environment; see Parse. It does not apply DROPWIRE_*
// overrides: call ApplyEnv for those.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse reads a configuration from data; name is the file name used in
// problems. env looks up ${NAME} references (os.LookupEnv in Load; nil
// means no variable is set).
//
// Parsing is strict and reports everything it can in one *Error: YAML
// syntax, unknown keys, values of the wrong type, unset variables, then
// every validation problem, each with its file:line. On success the
// returned Config has its defaults filled and has passed Validate.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	root, p := parseYAML(name, data)
	if p != nil {
		return nil, &Error{Problems: []Problem{*p}}
	}
	c := &Config{File: name}
	d := newDecoder(name, env)
	if root != nil {
		d.decode(root, reflect.ValueOf(c).Elem(), "", root.Line)
	}
	c.pos = d.pos
	c.ApplyDefaults()
	problems := d.problems
	for _, p := range c.check() {
		if !d.covers(p.Path) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Error{Problems: problems}
	}
	c.index()
	return c, nil
}

// yamlLine matches the position yaml.v3 puts into its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML document. It returns nil, nil for an
// empty document.
func parseYAML(name string, data []byte) (root *yaml.Node, p *Problem) {
	defer func() {
		// yaml.v3 panics on a few malformed inputs; a configuration
		// file must never crash the process that reads it.
		if r := recover(); r != nil {
			root, p = nil, &Problem{File: name, Msg: "the YAML parser failed on this input"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlProblem(name, data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlProblem(name, data, err)
	default:
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &Problem{File: name, Line: line, Msg: "only one YAML document is allowed"}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
		return nil, nil
	}
	return &doc, nil
}

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). For these yaml.v3 reports the 0-based line of the construct it
// was parsing (and no line for the first one); scanner errors are 1-based.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

func yamlProblem(name string, data []byte, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if parserProblems[msg] {
		line++
	}
	// An error at the end of the input is reported on the last line.
	last := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		last++
	}
	line = min(line, max(last, 1))
	return &Problem{File: name, Line: line, Msg: "invalid YAML: " + msg}
}

// ResolvePath resolves a file path written in the configuration (a
// compensation codes_file, a jwt source's jwks file) relative to the
// directory of the configuration file, as operators expect. Absolute
// paths, URLs and paths of a built-in configuration are returned unchanged.
func (c *Config) ResolvePath(p string) string {
	if p == "" || c.File == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}
