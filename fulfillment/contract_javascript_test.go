package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// standardWebhooksJS is the npm package the README's JavaScript snippet
// uses, pinned so the test checks one known version.
const standardWebhooksJS = "standardwebhooks@1.3.0"

// The README's JavaScript snippet, run with node and the standardwebhooks
// package against a webhook the forwarder really sent: it accepts it
// (with webhook-id as the id) and refuses a tampered body and a wrong
// secret. Without node, npm or the npm registry the test is skipped, and
// says why.
func TestREADMEJavaScriptVerifiesRealWebhook(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the README's JavaScript snippet is not run")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the README's JavaScript snippet is not run")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--prefer-offline", "--no-audit", "--no-fund", "--no-save",
		"--loglevel=error", "--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000",
		"--fetch-timeout=60000", "--prefix", dir, standardWebhooksJS)
	install.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm could not install %s (registry unreachable?), the README's JavaScript snippet is not run: %v\n%s",
			standardWebhooksJS, err, out)
	}

	created, _, _ := realPayloads(t)
	secret := created.Header.Get("X-Test-Secret")
	script := readmeSnippet(t, "js", "js-verify") + `
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = [];
for (const c of input.cases) {
  try {
    const ev = verifyClaim(c.body, c.headers);
    out.push({ ok: true, id: ev.id, type: ev.type, claim: ev.claim.id });
  } catch (e) {
    out.push({ ok: false, error: String(e && e.message) });
  }
}
console.log(JSON.stringify(out));
`
	if err := os.WriteFile(filepath.Join(dir, "verify.js"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	// Node gives handlers lower-case header names.
	headers := map[string]string{}
	for k := range created.Header {
		headers[strings.ToLower(k)] = created.Header.Get(k)
	}
	var sent struct {
		Claim struct{ ID string } `json:"claim"`
	}
	_ = json.Unmarshal(created.Body, &sent)
	// One character of the claim id changed (to another one: an id may
	// end in x already).
	last := "x"
	if strings.HasSuffix(sent.Claim.ID, "x") {
		last = "y"
	}
	tampered := strings.Replace(string(created.Body), sent.Claim.ID, sent.Claim.ID[:len(sent.Claim.ID)-1]+last, 1)
	type jsCase struct {
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	}
	input, _ := json.Marshal(map[string][]jsCase{"cases": {{string(created.Body), headers}, {tampered, headers}}})

	run := func(secret string) []struct {
		OK                     bool
		ID, Type, Claim, Error string
	} {
		cmd := exec.CommandContext(ctx, nodeBin, "verify.js")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DROPWIRE_NODE_SECRET="+secret)
		cmd.Stdin = bytes.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node verify.js: %v\n%s", err, out)
		}
		var res []struct {
			OK                     bool
			ID, Type, Claim, Error string
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res) != 2 {
			t.Fatalf("node verify.js printed %s", out)
		}
		return res
	}
	res := run(secret)
	if !res[0].OK || res[0].ID != created.Header.Get("webhook-id") || res[0].Type != TypeClaimCreated || res[0].Claim != sent.Claim.ID {
		t.Fatalf("the snippet on a real webhook: %+v", res[0])
	}
	if res[1].OK {
		t.Fatalf("the snippet accepted a tampered body: %+v", res[1])
	}
	if res := run(newSecret(t)); res[0].OK {
		t.Fatalf("the snippet accepted a webhook signed with another secret: %+v", res[0])
	}
}
