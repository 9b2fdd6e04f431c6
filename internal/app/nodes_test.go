package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/verifier"
)

// The nodes routes answer what /v1/openapi.json says they do: every
// member documented, every required one present, of its type, for a node
// failing its deliveries and a hosted one.
func TestNodesMatchOpenAPI(t *testing.T) {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(node.Close)
	cfg, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes[0].URL = node.URL + "/hook"
	cfg.Nodes = append(cfg.Nodes, config.Node{ID: "kiosk", Name: "Kiosk", Secret: config.NewWebhookSecret()})
	st := storetest.Redis(t)
	a, srv := adminApp(t, cfg, st)

	// A claim as the claim script leaves it: the hash and its outbox entry.
	ctx := context.Background()
	id := config.DemoDrop + ".nodesopenapitest"
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := st.HSet(ctx, store.DropKey(config.DemoDrop, "claim", id), map[string]string{"id": id, "drop": config.DemoDrop,
		"state": "claimed", "node": config.DemoNode, "sku": config.DemoSKU, "tier": "standard", "pickup_code": "K0000001",
		"pickup_by": now, "created_at": now}); err != nil {
		t.Fatal(err)
	}
	// As a claim does: its drop joins the backlog the forwarders go over.
	if err := verifier.NewBacklog(st, nil).Touch(ctx, config.DemoDrop); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OutboxAdd(ctx, store.DropKey(config.DemoDrop, "outbox"), map[string]string{"type": "claim.created",
		"claim": id, "event": id + ".created", "node": config.DemoNode, "drop": config.DemoDrop}); err != nil {
		t.Fatal(err)
	}

	var doc map[string]any
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	token := a.Config().AdminToken
	get := func(path string) any {
		t.Helper()
		var out any
		if code := adminCall(t, srv, token, "GET", path, nil, &out); code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, code, out)
		}
		return out
	}
	var nodes any
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes = get("/v1/admin/nodes")
		ns := nodes.(map[string]any)["nodes"].([]any)
		if len(ns[0].(map[string]any)["attempts"].([]any)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt listed: %v", nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for path, body := range map[string]any{
		"/v1/admin/nodes":                   nodes,
		"/v1/admin/nodes/{node}/deliveries": get("/v1/admin/nodes/" + config.DemoNode + "/deliveries?limit=5"),
	} {
		schema := dig(doc, "paths", path, "get", "responses", "200", "content", "application/json", "schema")
		if schema == nil {
			t.Fatalf("%s: no 200 schema in the OpenAPI document", path)
		}
		for _, p := range matchSchema(doc, schema, body, "") {
			t.Errorf("%s: %s", path, p)
		}
	}
	ns := nodes.(map[string]any)["nodes"].([]any)
	at := ns[0].(map[string]any)["attempts"].([]any)[0].(map[string]any)
	if at["status"] != 500.0 || at["claim"] != id || ns[1].(map[string]any)["hosted"] != true {
		t.Fatalf("nodes %v", ns)
	}
}

// dig follows keys through nested JSON objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// matchSchema checks v against the subset of JSON Schema the document
// uses (type, properties, required, items, enum, $ref), and, stricter than
// JSON Schema, that every member of an object with properties is among
// them. It returns what does not match.
func matchSchema(doc, schema, v any, at string) []string {
	s, _ := schema.(map[string]any)
	if ref, ok := s["$ref"].(string); ok {
		return matchSchema(doc, dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...), v, at)
	}
	var out []string
	if typ, ok := s["type"]; ok {
		var types []string
		switch typ := typ.(type) {
		case string:
			types = []string{typ}
		case []any:
			for _, x := range typ {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return append(out, fmt.Sprintf("%s: %s, want %v", at, jsonType(v), types))
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		out = append(out, fmt.Sprintf("%s: %v not in %v", at, v, enum))
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := v[r]; !ok {
				out = append(out, fmt.Sprintf("%s: required %q missing", at, r))
			}
		}
		for k, x := range v {
			p, ok := props[k]
			if !ok {
				if props != nil {
					out = append(out, fmt.Sprintf("%s: %q is not documented", at, k))
				}
				continue
			}
			out = append(out, matchSchema(doc, p, x, at+"."+k)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, matchSchema(doc, s["items"], x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }
