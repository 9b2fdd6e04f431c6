package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testEnv is the environment the test configurations expect.
var testEnv = map[string]string{
	"DROPWIRE_ADMIN_TOKEN": "admin-token-0123456789",
	"AVA_OVERLAY_KEY":      "ava-overlay-key-0001",
	"STREAM_TOOL_SECRET":   "0123456789abcdef0123456789abcdef",
	"TWITCH_SECRET":        "twitch-secret-0001",
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// base is a minimal valid configuration; cases edit single lines of it so
// that the line numbers below stay put.
const base = `creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
sources:
  - id: vendor
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
nodes:
  - id: shop
    secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
drops:
  - id: pack
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
`

// edit replaces the one occurrence of old in base with new.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if n := strings.Count(base, old); n != 1 {
		t.Fatalf("edit: %q occurs %d times in base", old, n)
	}
	return strings.Replace(base, old, new, 1)
}

// problems returns the problems of err, failing the test if err is not an
// *Error.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want problems")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %q is not a *config.Error", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	return e.Problems
}

// want is an expected problem: exact line and path, a message part.
type want struct {
	line int
	path string
	msg  string
}

func (w want) String() string { return fmt.Sprintf("%d: %s: …%s…", w.line, w.path, w.msg) }

// checkProblems asserts that got holds exactly the wanted problems, in order.
func checkProblems(t *testing.T, file string, got []Problem, wants []want) {
	t.Helper()
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], wants[i]
		ok = g.File == file && g.Line == w.line && g.Path == w.path && strings.Contains(g.Msg, w.msg)
	}
	if !ok {
		t.Errorf("problems:\n%s\nwant:\n%s", (&Error{Problems: got}).Error(), fmt.Sprint(wants))
	}
}

func mustParse(t *testing.T, yaml string, env map[string]string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(yaml), envOf(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}
