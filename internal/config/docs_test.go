package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// configKeys returns every key a configuration file may hold for type t,
// as dotted paths ("nodes.timeout"); list items add no segment. A key whose
// value is a map takes keys of the user's choosing, so it is returned in
// open, and any key under it is read.
func configKeys(t reflect.Type) (keys []string, open []string) {
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			path := prefix + name
			keys = append(keys, path)
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Map:
				open = append(open, path)
			case ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
				walk(ft, path+".")
			}
		}
	}
	walk(t, "")
	return keys, open
}

// tableKey matches the first cell of a reference table row: one or more
// `key`s, separated by " / ".
var tableKey = regexp.MustCompile("^\\| ((?:`[a-z0-9_]+`(?: / )?)+) \\|")

// documentedKeys returns the keys a configuration reference documents: the
// first cell of each table row (top-level keys) and every key of its YAML
// examples, as dotted paths.
func documentedKeys(t *testing.T, reference string) []string {
	t.Helper()
	var keys []string
	for _, line := range strings.Split(reference, "\n") {
		if m := tableKey.FindStringSubmatch(line); m != nil {
			for _, k := range strings.Split(m[1], " / ") {
				keys = append(keys, strings.Trim(k, "`"))
			}
		}
	}
	for _, block := range strings.Split(reference, "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(block), &root); err != nil {
			t.Fatalf("a YAML example of the reference does not parse: %v\n%s", err, block)
		}
		var walk func(n *yaml.Node, prefix string)
		walk = func(n *yaml.Node, prefix string) {
			switch n.Kind {
			case yaml.DocumentNode, yaml.SequenceNode:
				for _, c := range n.Content {
					walk(c, prefix)
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					path := prefix + n.Content[i].Value
					keys = append(keys, path)
					walk(n.Content[i+1], path+".")
				}
			}
		}
		walk(&root, "")
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// drift compares the keys read with the keys documented: the first are
// read but not documented, the second documented but never read.
func drift(read, open, documented []string) (undocumented, unread []string) {
	for _, k := range read {
		if !slices.Contains(documented, k) {
			undocumented = append(undocumented, k)
		}
	}
	for _, k := range documented {
		underOpen := slices.ContainsFunc(open, func(o string) bool { return strings.HasPrefix(k, o+".") })
		if !slices.Contains(read, k) && !underOpen {
			unread = append(unread, k)
		}
	}
	return undocumented, unread
}

// The drift check itself: a key added to the types without a line in the
// reference is found, and so is a documented key nothing reads.
func TestDocsDriftCheck(t *testing.T) {
	type node struct {
		ID      string            `yaml:"id"`
		Timeout Duration          `yaml:"timeout"`
		Labels  map[string]string `yaml:"labels"`
	}
	type fileConfig struct {
		Listen  string `yaml:"listen"`
		NewKey  int    `yaml:"new_key"`
		Nodes   []node `yaml:"nodes"`
		Process string `yaml:"-"`
	}
	for _, tc := range []struct {
		name                 string
		reference            string
		undocumented, unread []string
	}{
		{"all documented", "| `listen` / `new_key` | |\n```yaml\nnodes:\n  - id: a\n    timeout: 1s\n    labels: {team: x}\n```\n", nil, nil},
		{"a key added without documentation", "| `listen` | |\n```yaml\nnodes:\n  - id: a\n    timeout: 1s\n    labels: {}\n```\n", []string{"new_key"}, nil},
		{"a nested key added without documentation", "| `listen` / `new_key` | |\n```yaml\nnodes:\n  - id: a\n    labels: {}\n```\n", []string{"nodes.timeout"}, nil},
		{"a documented key nothing reads", "| `listen` / `new_key` / `old_key` | |\n```yaml\nnodes:\n  - id: a\n    timeout: 1s\n    retries: 3\n    labels: {team: x}\n```\n", nil, []string{"nodes.retries", "old_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read, open := configKeys(reflect.TypeFor[fileConfig]())
			undocumented, unread := drift(read, open, documentedKeys(t, tc.reference))
			if !slices.Equal(undocumented, tc.undocumented) || !slices.Equal(unread, tc.unread) {
				t.Errorf("undocumented %q, unread %q; want %q, %q", undocumented, unread, tc.undocumented, tc.unread)
			}
		})
	}
}

// The README's configuration reference documents every key Config reads,
// and nothing else.
func TestReadmeDocumentsEveryConfigKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(readme), "\n## Configuration reference\n")
	if !ok {
		t.Fatal("README has no Configuration reference section")
	}
	if i := strings.Index(ref, "\n## "); i >= 0 {
		ref = ref[:i]
	}
	read, open := configKeys(reflect.TypeFor[Config]())
	undocumented, unread := drift(read, open, documentedKeys(t, ref))
	for _, k := range undocumented {
		t.Errorf("%s is read from the configuration file but not in the README's Configuration reference", k)
	}
	for _, k := range unread {
		t.Errorf("%s is in the README's Configuration reference but no configuration type reads it", k)
	}
}
