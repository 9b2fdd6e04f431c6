package config_test

import (
	"fmt"

	"github.com/dropwire/dropwire/internal/config"
)

func ExampleParse() {
	yaml := []byte(`creators:
  - id: ava
    overlay_keys: ["${AVA_OVERLAY_KEY}"]
sources:
  - id: capture-vendor
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_oops!"]
    tolerence: 5m
`)
	_, err := config.Parse("dropwire.yaml", yaml, func(string) (string, bool) { return "", false })
	fmt.Println(err)
	// Output:
	// dropwire.yaml:3: creators[0].overlay_keys[0]: ${AVA_OVERLAY_KEY} is not set
	// dropwire.yaml:8: sources[0].secrets[1]: whsec_ secret does not decode: illegal base64 data at input byte 4
	// dropwire.yaml:9: sources[0].tolerence: unknown key; did you mean "tolerance"?
}

func ExampleConfig_ApplyEnv() {
	cfg, err := config.Demo()
	if err != nil {
		panic(err)
	}
	env := map[string]string{"DROPWIRE_LISTEN": "127.0.0.1:9090"}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		panic(err)
	}
	fmt.Println(cfg.Listen, cfg.PublicURL)
	// Output: 127.0.0.1:9090 http://127.0.0.1:9090
}
