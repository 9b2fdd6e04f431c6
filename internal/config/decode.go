package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// position is where the value of one setting came from.
type position struct {
	file string
	line int
	// set is true when a non-null value was written, so that an explicit
	// "0s" is told apart from an absent key that gets its default.
	set bool
}

// maxNodes bounds the work of one decode, so that aliases of aliases
// cannot turn a small file into billions of values.
const maxNodes = 1_000_000

// decoder walks a parsed YAML document against the Config types, by
// reflection on their yaml tags, decoding as it goes. Unlike yaml.v3's own
// strict mode it keeps going after a problem, so that every unknown key and
// every badly typed value is reported, and it records the position of every
// path for the validation that follows.
type decoder struct {
	file     string
	env      func(string) (string, bool)
	pos      map[string]position
	problems []Problem
	bad      []string // paths with a decode problem
	budget   int
	active   map[*yaml.Node]bool // mappings being merged, against cycles
	fields   map[reflect.Type]map[string]int
}

func newDecoder(file string, env func(string) (string, bool)) *decoder {
	return &decoder{
		file:   file,
		env:    env,
		pos:    make(map[string]position),
		budget: maxNodes,
		active: make(map[*yaml.Node]bool),
		fields: make(map[reflect.Type]map[string]int),
	}
}

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.bad = append(d.bad, path)
}

// spend counts one value against maxNodes; the first time the budget is
// exceeded it reports a problem that covers the whole document.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.budget--; d.budget >= 0 {
		return true
	}
	if d.budget == -1 {
		d.fail(n.Line, "", "document too large: more than %d values (check aliases and merges)", maxNodes)
	}
	return false
}

// covers reports whether path is, or is inside, a path that already has a
// decode problem: validating a value that could not be decoded would only
// repeat the problem in other words.
func (d *decoder) covers(path string) bool {
	for _, b := range d.bad {
		if b == "" || path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decode stores n into v, which is addressable. keyLine is the line of the
// key (or list item) holding n, used when n is null.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, keyLine int) {
	if !d.spend(n) {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			d.decode(n.Content[0], v, path, keyLine)
		}
		return
	case yaml.AliasNode:
		if n.Alias == nil || d.active[n.Alias] {
			d.fail(n.Line, path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		d.active[n.Alias] = true
		d.decode(n.Alias, v, path, n.Line)
		delete(d.active, n.Alias)
		if p, ok := d.pos[path]; ok {
			p.line = n.Line
			d.pos[path] = p
		}
		return
	}
	if isNull(n) {
		d.pos[path] = position{file: d.file, line: keyLine}
		return
	}
	d.pos[path] = position{file: d.file, line: n.Line, set: true}

	if v.Addr().Type().Implements(unmarshalerType) {
		if n.Kind == yaml.ScalarNode {
			m, ok := d.expand(n, path)
			if !ok {
				return
			}
			if isNull(m) {
				d.pos[path] = position{file: d.file, line: n.Line}
				return
			}
			n = m
		}
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n.Line, path, "%s", err)
		}
		return
	}

	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expected a mapping, got a %s", kindName(n))
			return
		}
		fields := d.structFields(v.Type())
		for _, p := range d.pairs(n, path, true) {
			key := p.key.Value
			i, ok := fields[key]
			if !ok {
				if path == "" && strings.HasPrefix(key, "x-") {
					continue // extension key, e.g. a home for YAML anchors
				}
				d.fail(p.key.Line, join(path, key), "unknown key%s", suggest(key, fields))
				continue
			}
			d.decode(p.val, v.Field(i), join(path, key), p.key.Line)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "expected a list, got a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), path+"["+strconv.Itoa(i)+"]", item.Line)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expected a mapping, got a %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, p := range d.pairs(n, path, true) {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(p.val, e, join(path, p.key.Value), p.key.Line)
			m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.Pointer:
		// An optional setting: nil while the file leaves it out.
		if n.Kind == yaml.ScalarNode && isNull(n) {
			return
		}
		e := reflect.New(v.Type().Elem())
		d.decode(n, e.Elem(), path, keyLine)
		v.Set(e)
	default:
		d.scalar(n, v, path)
	}
}

// scalar decodes a string, integer or boolean.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected %s, got a %s", kindWant(v.Kind()), kindName(n))
		return
	}
	m, ok := d.expand(n, path)
	if !ok {
		return
	}
	if isNull(m) {
		d.pos[path] = position{file: d.file, line: n.Line}
		return
	}
	switch v.Kind() {
	case reflect.String:
		// Any scalar is text as written: "secret: 0123" keeps its zero.
		v.SetString(m.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if m.ShortTag() != "!!int" || m.Decode(&i) != nil {
			d.fail(n.Line, path, "expected an integer, got %q", clip(m.Value))
			return
		}
		if v.OverflowInt(i) {
			d.fail(n.Line, path, "integer %s is out of range", clip(m.Value))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if (m.ShortTag() != "!!int" && m.ShortTag() != "!!float") || m.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n.Line, path, "expected a number, got %q", clip(m.Value))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if m.ShortTag() != "!!bool" || m.Decode(&b) != nil {
			d.fail(n.Line, path, "expected true or false, got %q", clip(m.Value))
			return
		}
		v.SetBool(b)
	default:
		d.fail(n.Line, path, "unsupported setting type %s", v.Type())
	}
}

type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's key/value pairs, with YAML merge keys ("<<")
// resolved: explicit keys win over merged ones, earlier merges over later
// ones. Duplicate keys are reported when report is set.
func (d *decoder) pairs(n *yaml.Node, path string, report bool) []pair {
	seen := make(map[string]int)
	var out, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			if report {
				d.fail(k.Line, path, "keys must be plain strings, got a %s", kindName(k))
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			if report {
				d.fail(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
			}
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{k, val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key.Value]; !dup {
			seen[p.key.Value] = p.key.Line
			out = append(out, p)
		}
	}
	return out
}

// merge returns the pairs a merge key's value brings: a mapping, an alias
// of one, or a list of those.
func (d *decoder) merge(n *yaml.Node, path string) []pair {
	if !d.spend(n) {
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || d.active[n.Alias] {
			d.fail(n.Line, path, "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		d.active[n.Alias] = true
		defer delete(d.active, n.Alias)
		return d.merge(n.Alias, path)
	case yaml.MappingNode:
		return d.pairs(n, path, false)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range n.Content {
			if item.Kind == yaml.SequenceNode {
				d.fail(item.Line, path, "a merge (<<) list may only hold mappings")
				continue
			}
			out = append(out, d.merge(item, path)...)
		}
		return out
	}
	d.fail(n.Line, path, "a merge (<<) needs a mapping or a list of mappings, got a %s", kindName(n))
	return nil
}

// structFields maps yaml key names to field indexes.
func (d *decoder) structFields(t reflect.Type) map[string]int {
	if f, ok := d.fields[t]; ok {
		return f
	}
	f := make(map[string]int)
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f[name] = i
	}
	d.fields[t] = f
	return f
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "number"
		case "!!float":
			return "number"
		case "!!bool":
			return "boolean"
		}
		return "string"
	}
	return "document"
}

func kindWant(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float64:
		return "a number"
	}
	return "an integer"
}

// suggest names the known key closest to an unknown one, if any is close.
func suggest(key string, fields map[string]int) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3
	for name := range fields {
		dist := editDistance(key, name)
		if norm(key) == norm(name) {
			dist = 0
		}
		if dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if best == "" || len(key) <= 2 && bestDist > 0 {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
