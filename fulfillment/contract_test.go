package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The node contract (README "For fulfillment nodes", the OpenAPI
// document's webhooks) checked against what the forwarder really sends.

// capturedHook is one request as a receiver got it.
type capturedHook struct {
	Header http.Header
	Body   []byte
}

// hookRecorder is a receiver that checks the signature with secret,
// keeps every request and answers 200.
type hookRecorder struct {
	secret string
	srv    *httptest.Server
	mu     sync.Mutex
	got    []capturedHook
	bad    []string
}

func newHookRecorder(t *testing.T) *hookRecorder {
	t.Helper()
	r := &hookRecorder{secret: newSecret(t)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := checkStandardSignature(r.secret, req.Header, body); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h := req.Header.Clone()
		h.Set("X-Test-Secret", r.secret) // what the receiver verifies with, for tests that verify again
		r.got = append(r.got, capturedHook{Header: h, Body: body})
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookRecorder) hooks() []capturedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// realPayloads runs the forwarder and returns real outbound webhooks:
// claim.created of a claim and of a test drop's claim (to the node), and
// claim.compensated (to the creator's compensation webhook).
func realPayloads(t *testing.T) (created, sandbox, compensated capturedHook) {
	t.Helper()
	st := storetest.Redis(t)
	node, creator := newHookRecorder(t), newHookRecorder(t)
	f := newFixture(t, st, config.Compensation{Kind: config.CompensationWebhook, URL: creator.srv.URL, Secret: creator.secret},
		testNodeConfig("shop", node.srv.URL, node.secret))
	d, _ := f.drops.Drop(t.Context(), f.drop)
	test := *d
	test.ID, test.Sandbox = f.drop+"-test-1", true
	f.drops.Put(test)
	sandboxDrop := &fixture{t: t, st: st, drops: f.drops, nodes: f.nodes, drop: test.ID}
	receipts, err := verifier.NewReceipts(verifier.ReceiptsConfig{Store: st, Issuer: "https://drops.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s := f.service(func(c *Config) { c.Receipts = receipts })
	run(t, s)

	id := f.claim("shop")
	sandboxDrop.claim("shop")
	eventually(t, 10*time.Second, "both claims delivered", func() bool { return len(node.hooks()) == 2 })
	if _, err := s.HandleCallback(context.Background(), "shop", "rej-1", Callback{Type: "claim.rejected", Claim: id, Reason: "out of stock"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "claim.compensated delivered", func() bool { return len(creator.hooks()) == 1 })
	if len(node.bad)+len(creator.bad) > 0 {
		t.Fatalf("bad signatures: %v %v", node.bad, creator.bad)
	}
	for _, h := range node.hooks() {
		if bytes.Contains(h.Body, []byte(`"sandbox":true`)) {
			sandbox = h
		} else {
			created = h
		}
	}
	return created, sandbox, creator.hooks()[0]
}

// openAPIDoc is the OpenAPI document as /v1/openapi.json serves it
// (admin embeds this file).
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../admin/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc.(map[string]any)
}

// webhookSchema compiles the request body schema of the document's
// webhook event, as a JSON Schema 2020-12 validator (OpenAPI 3.1's
// dialect) that also asserts formats (date-time).
func webhookSchema(t *testing.T, doc map[string]any, event string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("https://dropwire.invalid/openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("https://dropwire.invalid/openapi.json#/webhooks/" + event + "/post/requestBody/content/application~1json/schema")
	if err != nil {
		t.Fatalf("webhooks[%q]: %v", event, err)
	}
	return sch
}

// documented fails when body has a member the schema of its place does
// not declare: the schema must describe everything that is sent.
func documented(t *testing.T, doc map[string]any, event string, body map[string]any) {
	t.Helper()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	props := func(name string) map[string]any {
		return schemas[name].(map[string]any)["properties"].(map[string]any)
	}
	ev := map[string]string{"claim.created": "ClaimCreatedEvent", "claim.compensated": "ClaimCompensatedEvent"}[event]
	for k := range body {
		if _, ok := props(ev)[k]; !ok {
			t.Errorf("%s: member %q is sent but not in %s", event, k, ev)
		}
	}
	claim, _ := body["claim"].(map[string]any)
	for k := range claim {
		if _, ok := props("OutboundClaim")[k]; !ok {
			t.Errorf("%s: claim member %q is sent but not in OutboundClaim", event, k)
		}
	}
}

func schemaJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v.(map[string]any)
}

// The OpenAPI document's webhooks describe every outbound event: each real
// payload validates against its schema, and every member it has is
// declared. A payload changed in a way the schema forbids fails, so the
// validator is seen to validate.
func TestOutboundPayloadsMatchOpenAPI(t *testing.T) {
	created, sandbox, compensated := realPayloads(t)
	doc := openAPIDoc(t)
	if w, _ := doc["webhooks"].(map[string]any); len(w) != 2 {
		t.Fatalf("webhooks: %v, want claim.created and claim.compensated", w)
	}
	for _, tc := range []struct {
		name, event string
		hook        capturedHook
	}{
		{"claim.created", TypeClaimCreated, created},
		{"claim.created of a test drop", TypeClaimCreated, sandbox},
		{"claim.compensated", TypeClaimCompensated, compensated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := schemaJSON(t, tc.hook.Body)
			if body["type"] != tc.event {
				t.Fatalf("type %v, want %s: %s", body["type"], tc.event, tc.hook.Body)
			}
			sch := webhookSchema(t, doc, tc.event)
			if err := sch.Validate(body); err != nil {
				t.Fatalf("real payload does not validate: %v\n%s", err, tc.hook.Body)
			}
			documented(t, doc, tc.event, body)

			for i, mutate := range []func(body, claim map[string]any){
				func(_, claim map[string]any) { delete(claim, "id") },
				func(_, claim map[string]any) { claim["created_at"] = "yesterday" },
				func(body, _ map[string]any) { body["type"] = "claim.other" },
				func(_, claim map[string]any) { claim["sandbox"] = false },
			} {
				body := schemaJSON(t, tc.hook.Body)
				mutate(body, body["claim"].(map[string]any))
				if sch.Validate(body) == nil {
					t.Errorf("broken payload %d validates: %v", i, body)
				}
			}
		})
	}
}

// README.md's example bodies are real payloads in shape: the same members
// (recursively) as what the forwarder sends, and valid against the
// schemas.
func TestREADMENodeExamplesMatchPayloads(t *testing.T) {
	created, sandbox, compensated := realPayloads(t)
	doc := openAPIDoc(t)
	for _, tc := range []struct {
		snippet, event string
		real           capturedHook
	}{
		{"claim.created", TypeClaimCreated, created},
		{"claim.created (test drop)", TypeClaimCreated, sandbox},
		{"claim.compensated", TypeClaimCompensated, compensated},
	} {
		t.Run(tc.snippet, func(t *testing.T) {
			example := schemaJSON(t, []byte(readmeSnippet(t, "json", tc.snippet)))
			if err := webhookSchema(t, doc, tc.event).Validate(example); err != nil {
				t.Fatalf("README example does not validate: %v", err)
			}
			if got, want := shape(example), shape(schemaJSON(t, tc.real.Body)); got != want {
				t.Fatalf("README example has members %s, the real payload %s", got, want)
			}
		})
	}
}

// shape lists the member paths of v, sorted.
func shape(v any) string {
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, c := range m {
			paths = append(paths, prefix+k)
			walk(prefix+k+".", c)
		}
	}
	walk("", v)
	slices.Sort(paths)
	return strings.Join(paths, " ")
}

// readmeSnippet returns the fenced block of lang that follows the line
// "<!-- snippet: name -->" in README.md.
func readmeSnippet(t *testing.T, lang, name string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	marker := "<!-- snippet: " + name + " -->\n"
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("README.md has no %q", strings.TrimSpace(marker))
	}
	fence := "```" + lang + "\n"
	if !strings.HasPrefix(rest, fence) {
		t.Fatalf("README.md: %q is not followed by a %s block", strings.TrimSpace(marker), lang)
	}
	body, _, ok := strings.Cut(rest[len(fence):], "```\n")
	if !ok {
		t.Fatalf("README.md: the block after %q does not end", strings.TrimSpace(marker))
	}
	return body
}

// TestPrintPayloads prints real payloads for the README (go test -run
// TestPrintPayloads -v ./fulfillment/ with DROPWIRE_PRINT_PAYLOADS=1).
func TestPrintPayloads(t *testing.T) {
	if os.Getenv("DROPWIRE_PRINT_PAYLOADS") == "" {
		return
	}
	created, sandbox, compensated := realPayloads(t)
	for _, h := range []capturedHook{created, sandbox, compensated} {
		var out bytes.Buffer
		_ = json.Indent(&out, h.Body, "", "  ")
		t.Logf("%s %s %s\n%s", h.Header.Get("webhook-id"), h.Header.Get("webhook-timestamp"), h.Header.Get("webhook-signature"), out.String())
	}
}
