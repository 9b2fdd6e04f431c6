package main

import (
	"os"
	"strings"
	"testing"
)

// readmeYAML returns the YAML code blocks of the README section under
// heading (e.g. "## Configuration reference"), up to the next heading of
// the same level.
func readmeYAML(t *testing.T, heading string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	level, _, _ := strings.Cut(heading, " ")
	section, _, _ = strings.Cut(section, "\n"+level+" ")
	var blocks []string
	for {
		var block string
		if _, section, ok = strings.Cut(section, "```yaml\n"); !ok {
			return blocks
		}
		block, section, _ = strings.Cut(section, "```")
		blocks = append(blocks, block)
	}
}
