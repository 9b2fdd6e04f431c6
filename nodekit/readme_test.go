package nodekit_test

import (
	"os"
	"strings"
	"testing"
)

// The README's Go snippets are the code of this package's examples, which
// run (with their Output checked) in this package's tests: each snippet's
// lines appear, in order and together, in example_test.go.
func TestREADMEGoSnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	exLines := trimLines(string(examples))
	for _, name := range []string{"go-verify", "go-receipt", "go-callback"} {
		snippet := trimLines(snippetOf(t, string(readme), name))
		if len(snippet) < 3 {
			t.Fatalf("README snippet %s is only %d lines", name, len(snippet))
		}
		if !containsRun(exLines, snippet) {
			t.Errorf("README snippet %s is not the code of an example in example_test.go:\n%s", name, strings.Join(snippet, "\n"))
		}
	}
}

// snippetOf returns the fenced block after "<!-- snippet: name -->".
func snippetOf(t *testing.T, readme, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "<!-- snippet: "+name+" -->\n```go\n")
	if !ok {
		t.Fatalf("README.md has no Go snippet %q", name)
	}
	body, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("README.md: snippet %q does not end", name)
	}
	return body
}

// trimLines returns the non-blank lines of s without their indentation
// (the examples sit one tab deeper than the README).
func trimLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func containsRun(hay, needle []string) bool {
	for i := 0; i+len(needle) <= len(hay); i++ {
		match := true
		for j := range needle {
			if hay[i+j] != needle[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
