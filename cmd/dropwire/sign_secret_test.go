package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// A vendor holding only a source's secret signs with --secret, no
// configuration file: the printed headers verify against that secret.
func TestSignWithSecretOnly(t *testing.T) {
	secret := stdwebhooks.NewSecret()
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
	if code := run(context.Background(), env, []string{"sign", "--secret", secret, "--source", "capture", "--drop", "spring", "--id", "evt_1"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	head, body, ok := strings.Cut(out.String(), "\n\n")
	if !ok {
		t.Fatalf("no body in %q", out.String())
	}
	h := http.Header{}
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, ": ")
		h.Set(k, v)
	}
	v, err := stdwebhooks.NewVerifier(stdwebhooks.Keys{Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	body = strings.TrimSuffix(body, "\n")
	if _, err := v.Verify(h, []byte(body), time.Now()); err != nil {
		t.Fatalf("signed with --secret: %v\n%s", err, out.String())
	}
	if !strings.Contains(body, `"drop":"spring"`) || h.Get("webhook-id") != "evt_1" {
		t.Fatalf("body %s, id %q", body, h.Get("webhook-id"))
	}
}

func TestSignWithSecretNeedsDropAndURL(t *testing.T) {
	secret := stdwebhooks.NewSecret()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sign", "--secret", secret, "--source", "capture"}, "--drop or --file is required without --config"},
		{[]string{"sign", "--drop", "spring", "--source", "capture"}, "--source is required, with --config or --secret"},
		{[]string{"send", "--secret", secret, "--source", "capture", "--drop", "spring"}, "--url is required"},
	} {
		var out, errb bytes.Buffer
		env := &environ{stdout: &out, stderr: &errb, lookupEnv: func(string) (string, bool) { return "", false }}
		if code := run(context.Background(), env, tc.args); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
