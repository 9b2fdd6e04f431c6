package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// A jwks file written relative to the configuration file is read from the
// configuration's directory, as check-config reads it, wherever the server
// was started from.
func TestRelativeJWKSFollowsTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, "k1")
	set := jwk.NewSet()
	_ = set.AddKey(k)
	data, _ := json.Marshal(set)
	for _, name := range []string{"vendor.json", "viewers.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if wd, _ := os.Getwd(); wd == dir {
		t.Fatal("the test must run outside the configuration's directory")
	}

	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.File = filepath.Join(dir, "dropwire.yaml")
	cfg.Sources = append(cfg.Sources, config.Source{ID: "vendor", Creator: cfg.Creators[0].ID, Scheme: config.SchemeJWT,
		JWKS: "vendor.json", Algorithms: []string{"ES256"}})
	cfg.ViewerJWKS = "viewers.json"
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Config: cfg, Logger: zerolog.Nop(), Store: storetest.Redis(t)}); err != nil {
		t.Fatalf("a jwks file beside the configuration: %v", err)
	}
}
