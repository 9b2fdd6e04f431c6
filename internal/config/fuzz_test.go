package config

import (
	"os"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/valid.yaml", "testdata/mistakes.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte("a: &a [*a]\nlisten: *a\n"))
	f.Add([]byte("x-d: &d {window: 1h}\ndrops: [{<<: [*d, *d], id: a}]\n"))
	f.Add([]byte("drops:\n  - id: &x ${X}\n    stock: [{node: *x}]\n"))
	env := envOf(testEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, env)
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without error")
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse accepted what Validate rejects: %v", err)
			}
			return
		}
		if c != nil {
			t.Fatal("Config and error")
		}
		for _, v := range testEnv {
			if strings.Contains(err.Error(), v) && !strings.Contains(string(data), v) {
				t.Fatalf("error shows an expanded variable: %v", err)
			}
		}
	})
}
