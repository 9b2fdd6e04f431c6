package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config reads each code-compensated drop's codes_file and reports
// a missing or empty one with its line, exiting 1; with the files in
// place the same configuration is ok.
func TestCheckConfigCodesFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dropwire.yaml")
	if err := os.WriteFile(file, []byte(`creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
nodes:
  - id: shop
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
drops:
  - id: spring
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation: {kind: code, codes_file: spring-codes.txt}
  - id: summer
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation:
      kind: code
      codes_file: codes/summer.txt
`), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() (string, string, int) {
		var out, errb bytes.Buffer
		env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
		code := run(context.Background(), env, []string{"check-config", file})
		return out.String(), errb.String(), code
	}
	if err := os.WriteFile(filepath.Join(dir, "spring-codes.txt"), []byte("# to do\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := check()
	for _, w := range []string{
		file + `:11: drops[0].compensation.codes_file: "spring-codes.txt" holds no codes`,
		file + `:17: drops[1].compensation.codes_file: "codes/summer.txt" does not exist`,
		"2 problems",
	} {
		if code != 1 || !strings.Contains(errOut, w) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, w, errOut)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "spring-codes.txt"), []byte("S-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "codes"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "codes", "summer.txt"), []byte("U-1\nU-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := check(); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("with the codes files: %d %q %q", code, out, errOut)
	}
}

// One problem is "1 problem"; a command without flags prints no empty
// Flags: section in its help.
func TestCheckConfigCountsAndBareHelp(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dropwire.yaml")
	if err := os.WriteFile(file, []byte("creators:\n  - id: ava\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), env, []string{"check-config", file}); code != 1 || !strings.HasSuffix(errb.String(), ": 1 problem\n") {
		t.Errorf("exit %d, stderr %q: want 1 and ending in \": 1 problem\"", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), env, []string{"version", "--help"}); code != 0 || strings.Contains(errb.String(), "Flags:") {
		t.Errorf("version --help: exit %d, %q: want usage without a Flags: section", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), env, []string{"healthcheck", "--help"}); code != 0 || !strings.Contains(errb.String(), "Flags:\n  -config") {
		t.Errorf("healthcheck --help: exit %d, %q: want its flags", code, errb.String())
	}
}

// check-config explains the Redis Cluster settings at their lines, and
// never prints the password of a redis URL; a good cluster file is ok.
func TestCheckConfigRedisCluster(t *testing.T) {
	dir := t.TempDir()
	const head = `creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
nodes:
  - id: shop
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
drops:
  - id: spring
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
`
	check := func(body string, env map[string]string) (string, string, int) {
		file := filepath.Join(dir, "dropwire.yaml")
		if err := os.WriteFile(file, []byte(head+body), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		e := &environ{stdout: &out, stderr: &errb, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
		code := run(context.Background(), e, []string{"check-config", file})
		return out.String(), errb.String(), code
	}
	file := filepath.Join(dir, "dropwire.yaml")
	_, errOut, code := check(`redis_cluster:
  - 10.0.0.5:6379
  - 10.0.0.6
redis_tls_ca: ca.pem
`, nil)
	for _, w := range []string{
		file + `:13: redis_cluster[1]: must be host:port`,
		file + `:14: redis_tls_ca: is set but TLS is off`,
	} {
		if code != 1 || !strings.Contains(errOut, w) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, w, errOut)
		}
	}
	_, errOut, code = check("redis_url: \"rediss+cluster://dropwire:${REDIS_PASSWORD}@10.0.0.5:6379,10.0.0.6/0\"\n",
		map[string]string{"REDIS_PASSWORD": "hunter2-secret"})
	if code != 1 || !strings.Contains(errOut, file+":11: redis_url: cluster nodes must be host:port") || strings.Contains(errOut, "hunter2") {
		t.Errorf("bad cluster URL: exit %d:\n%s", code, errOut)
	}
	out, errOut, code := check("redis_url: \"rediss+cluster://dropwire:${REDIS_PASSWORD}@10.0.0.5:6379,10.0.0.6:6379\"\npubsub_partitions: 32\n",
		map[string]string{"REDIS_PASSWORD": "hunter2-secret"})
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good cluster file: %d %q %q", code, out, errOut)
	}
}
