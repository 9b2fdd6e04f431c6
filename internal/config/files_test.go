package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// A JWKS given as a file is read relative to the configuration file and
// must parse and hold a signature key with a kid; a URL is left for the
// server to fetch.
func TestCheckFilesJWKS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set := func(kid string) []byte {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := jwk.FromRaw(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		if kid != "" {
			_ = k.Set(jwk.KeyIDKey, kid)
		}
		s := jwk.NewSet()
		_ = s.AddKey(k)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("good.json", set("k1"))
	write("nokid.json", set(""))
	write("garbage.json", []byte("not json"))
	source := func(id, jwks string) string {
		return "  - id: " + id + "\n    creator: ava\n    scheme: jwt\n    jwks: " + jwks + "\n    algorithms: [ES256]\n"
	}
	yaml := strings.Replace(base, "nodes:\n", source("good", "good.json")+source("missing", "missing.json")+
		source("garbage", "garbage.json")+source("nokid", "nokid.json")+source("remote", "https://vendor.example/jwks.json")+"nodes:\n", 1) +
		"viewer_jwks: missing-viewers.json\n"
	file := filepath.Join(dir, "dropwire.yaml")
	c, err := Parse(file, []byte(yaml), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkProblems(t, file, problems(t, c.CheckFiles()), []want{
		{17, "sources[2].jwks", `"missing.json" does not exist`},
		{22, "sources[3].jwks", `"garbage.json" is not a JWKS`},
		{27, "sources[4].jwks", `"nokid.json" holds no signature key with a kid`},
		{41, "viewer_jwks", `"missing-viewers.json" does not exist`},
	})

	write("missing.json", set("k2"))
	write("missing-viewers.json", set("v1"))
	c.Sources = append(c.Sources[:3], c.Sources[5:]...) // garbage and nokid out
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("readable JWKS files: %v", err)
	}
}
