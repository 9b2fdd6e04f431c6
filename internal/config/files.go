package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// CheckFiles checks what the files the configuration names hold, which
// Validate does not read: every drop with compensation kind code needs a
// codes_file that can be read and holds at least one valid code, and every
// JWKS given as a file (a jwt source's jwks, viewer_jwks) must parse and
// hold a signature key.
// `dropwire check-config` runs it; serve does not, since a pool loaded
// once no longer needs its file (the loader warns and retries instead).
// It returns an *Error located like Validate's, or nil.
func (c *Config) CheckFiles() error {
	k := &checker{c: c}
	for i := range c.Drops {
		comp := &c.Drops[i].Compensation
		if comp.Kind != CompensationCode || comp.CodesFile == "" {
			continue
		}
		if _, err := ReadCodes(c.ResolvePath(comp.CodesFile)); err != nil {
			k.add(fmt.Sprintf("drops[%d].compensation.codes_file", i), "%s", CodesProblem(comp.CodesFile, err))
		}
	}
	for i := range c.Sources {
		if src := &c.Sources[i]; src.Scheme == SchemeJWT {
			c.checkJWKSFile(k, fmt.Sprintf("sources[%d].jwks", i), src.JWKS)
		}
	}
	c.checkJWKSFile(k, "viewer_jwks", c.ViewerJWKS)
	if len(k.problems) > 0 {
		sortProblems(k.problems)
		return &Error{Problems: k.problems}
	}
	return nil
}

// checkJWKSFile reports a JWKS file that cannot be read, does not parse,
// or holds no signature key with a kid. URLs are fetched by the server when
// a token needs them, so they are not fetched here.
func (c *Config) checkJWKSFile(k *checker, path, name string) {
	if name == "" || strings.Contains(name, "://") {
		return
	}
	data, err := os.ReadFile(c.ResolvePath(name))
	if err != nil {
		k.add(path, "%s", CodesProblem(name, err))
		return
	}
	set, err := jwk.Parse(data)
	if err != nil {
		k.add(path, "%q is not a JWKS: %v", name, err)
		return
	}
	for i := 0; i < set.Len(); i++ {
		if key, ok := set.Key(i); ok && key.KeyID() != "" && (key.KeyUsage() == "" || key.KeyUsage() == "sig") {
			return
		}
	}
	k.add(path, "%q holds no signature key with a kid", name)
}
