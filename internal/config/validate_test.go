package config

import (
	"strings"
	"testing"
)

// Line numbers refer to base (see helpers_test.go) after the edit.
func TestParseProblems(t *testing.T) {
	const (
		secretLine = `    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]`
		schemeLine = `    scheme: standard`
		nodeSecret = `    secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="`
		stockLine  = `    stock: [{node: shop, sku: sticker, qty: 10}]`
		dropID     = `  - id: pack`
		keysLine   = `    overlay_keys: ["ava-overlay-key-0001"]`
		good       = `"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
		jwtSecret  = `"0123456789abcdef0123456789abcdef"`
		// webhookComp follows stockLine: a valid policy on lines 16-19.
		webhookComp = "\n    compensation:\n      kind: webhook\n      url: https://shop.example/comp\n      secret: " + good
	)
	tests := []struct {
		name     string
		old, new string // edit of base; old == "" appends new
		want     []want
	}{
		// Syntax, keys and types.
		{"yaml syntax", schemeLine, "    scheme: [standard", []want{{7, "", "invalid YAML: did not find expected ',' or ']'"}}},
		{"unknown top-level key", "", "listn: \":9000\"", []want{{16, "listn", `unknown key; did you mean "listen"?`}}},
		{"unknown nested key", schemeLine, schemeLine + "\n    tolerence: 5m", []want{{8, "sources[0].tolerence", `unknown key; did you mean "tolerance"?`}}},
		{"unknown key, no suggestion", schemeLine, schemeLine + "\n    colour: red", []want{{8, "sources[0].colour", "unknown key"}}},
		{"duplicate key", schemeLine, schemeLine + "\n    scheme: jwt", []want{{8, "sources[0].scheme", "duplicate key (first at line 7)"}}},
		{"integer expected", stockLine, `    stock: [{node: shop, sku: sticker, qty: ten}]`, []want{{15, "drops[0].stock[0].qty", `expected an integer, got "ten"`}}},
		{"integer not float", stockLine, `    stock: [{node: shop, sku: sticker, qty: 1.5}]`, []want{{15, "drops[0].stock[0].qty", `expected an integer, got "1.5"`}}},
		{"bool expected", schemeLine, schemeLine + "\n    webrtc: maybe", []want{{8, "sources[0].webrtc", `expected true or false, got "maybe"`}}},
		{"list expected", secretLine, `    secrets: ` + good, []want{{8, "sources[0].secrets", "expected a list, got a string"}}},
		{"mapping expected", stockLine, `    stock: [shop]`, []want{{15, "drops[0].stock[0]", "expected a mapping, got a string"}}},
		{"string expected", schemeLine, `    scheme: [standard]`, []want{{7, "sources[0].scheme", "expected a string, got a list"}}},
		{"top level not a mapping", base, "- listen: x", []want{{1, "", "expected a mapping, got a list"}}},
		{"syntax error on line 1", base, "listen: [", []want{{1, "", "invalid YAML: did not find expected node content"}}},
		{"scanner error", schemeLine, "    scheme: standard: x", []want{{7, "", "invalid YAML: mapping values are not allowed in this context"}}},
		{"unclosed mapping", stockLine, "    stock: {node: shop", []want{{15, "", "invalid YAML: did not find expected ',' or '}'"}}},

		// Ids.
		{"empty id", "  - id: ava", `  - id: ""`, []want{{2, "creators[0].id", "is required"}, {6, "sources[0].creator", `unknown creator "ava"`}, {14, "drops[0].creator", `unknown creator "ava"`}}},
		{"missing id", "  - id: shop", "  - name: Shop", []want{{10, "nodes[0].id", "is required"}, {15, "drops[0].stock[0].node", `unknown node "shop"`}}},
		{"bad id", dropID, "  - id: \"pack{x}\"", []want{{13, "drops[0].id", "is not a valid id"}}},
		{"duplicate creator", keysLine, keysLine + "\n  - id: ava\n    overlay_keys: [\"ava-overlay-key-0002\"]", []want{{4, "creators[1].id", `duplicate id "ava" (first at line 2)`}}},
		{"duplicate source", secretLine, secretLine + "\n  - {id: vendor, creator: ava, scheme: standard, secrets: [" + good + "]}", []want{{9, "sources[1].id", `duplicate id "vendor" (first at line 5)`}}},
		{"duplicate node", nodeSecret, nodeSecret + "\n  - id: shop\n    secret: " + good, []want{{12, "nodes[1].id", `duplicate id "shop" (first at line 10)`}}},
		{"duplicate drop", stockLine, stockLine + "\n  - {id: pack, creator: ava, stock: [{node: shop, sku: b, qty: 1}]}", []want{{16, "drops[1].id", `duplicate id "pack" (first at line 13)`}}},

		// References.
		{"source unknown creator", "    creator: ava\n    scheme", "    creator: bob\n    scheme", []want{{6, "sources[0].creator", `unknown creator "bob"`}}},
		{"drop unknown creator", "    creator: ava\n    stock", "    creator: bob\n    stock", []want{{14, "drops[0].creator", `unknown creator "bob"`}}},
		{"drop missing creator", "    creator: ava\n    stock", "    stock", []want{{13, "drops[0].creator", "is required"}}},
		{"unknown node", stockLine, `    stock: [{node: shob, sku: sticker, qty: 10}]`, []want{{15, "drops[0].stock[0].node", `unknown node "shob"`}}},
		{"trigger unknown drop", secretLine, secretLine + "\n  - id: tw\n    creator: ava\n    scheme: twitch-eventsub\n    secrets: [\"twitch-secret-0001\"]\n    triggers:\n      - {subscription: channel.follow, drop: pak}", []want{{14, "sources[1].triggers[0].drop", `unknown drop "pak"`}}},
		{"trigger without subscription", secretLine, secretLine + "\n  - id: tw\n    creator: ava\n    scheme: twitch-eventsub\n    secrets: [\"twitch-secret-0001\"]\n    triggers:\n      - {drop: pack}", []want{{14, "sources[1].triggers[0].subscription", "is required"}}},
		{"triggers on standard", secretLine, secretLine + "\n    triggers: [{subscription: channel.follow, drop: pack}]", []want{{9, "sources[0].triggers", "only applies to scheme twitch-eventsub"}}},

		// Secrets and keys.
		{"empty secret", secretLine, `    secrets: [` + good + `, ""]`, []want{{8, "sources[0].secrets[1]", "is empty"}}},
		{"null secret", secretLine, "    secrets:\n      - " + good + "\n      -", []want{{10, "sources[0].secrets[1]", "is empty"}}},
		{"no secrets", secretLine, "    webrtc: true", []want{{5, "sources[0].secrets", "needs at least one whsec_ secret or whpk_ public key"}}},
		{"empty secret list", secretLine, "    secrets: []", []want{{8, "sources[0].secrets", "needs at least one"}}},
		{"whsec not base64", secretLine, `    secrets: ["whsec_abc!defg"]`, []want{{8, "sources[0].secrets[0]", "whsec_ secret does not decode: illegal base64 data at input byte 3"}}},
		{"whsec too short", secretLine, `    secrets: ["whsec_c2hvcnQ="]`, []want{{8, "sources[0].secrets[0]", "secret decodes to 5 bytes; use 24 to 64"}}},
		{"whsec too long", secretLine, `    secrets: ["whsec_` + strings.Repeat("AAAA", 22) + `"]`, []want{{8, "sources[0].secrets[0]", "secret decodes to 66 bytes"}}},
		{"unprefixed not base64", secretLine, `    secrets: ["not base64 at all"]`, []want{{8, "sources[0].secrets[0]", "secret is neither whsec_<base64> nor base64"}}},
		{"whpk wrong size", secretLine, `    public_keys: ["whpk_c2hvcnQ="]`, []want{{8, "sources[0].public_keys[0]", "whpk_ key decodes to 5 bytes; an ed25519 public key has 32"}}},
		{"whpk not base64", secretLine, `    public_keys: ["whpk_!!!!"]`, []want{{8, "sources[0].public_keys[0]", "whpk_ key does not decode"}}},
		{"whpk prefix", secretLine, secretLine + `
    public_keys: ["ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="]`, []want{{9, "sources[0].public_keys[0]", "public key must start with whpk_"}}},
		{"baseline a number", nodeSecret, nodeSecret + "\n    baseline_sales_per_day: 12.5", nil},
		{"baseline not a number", nodeSecret, nodeSecret + "\n    baseline_sales_per_day: many", []want{{12, "nodes[0].baseline_sales_per_day", `expected a number, got "many"`}}},
		{"baseline negative", nodeSecret, nodeSecret + "\n    baseline_sales_per_day: -3", []want{{12, "nodes[0].baseline_sales_per_day", "must be a number of sales a day, 0 or more"}}},
		{"node secret bad", nodeSecret, `    secret: "whsec_c2hvcnQ="`, []want{{11, "nodes[0].secret", "secret decodes to 5 bytes"}}},
		{"node secret missing", nodeSecret, `    url: "https://shop.example/hook"`, []want{{10, "nodes[0].secret", "is required"}}},
		{"console key short", nodeSecret, nodeSecret + "\n    console_keys: [\"short\"]", []want{{12, "nodes[0].console_keys[0]", "is too short: use at least 16 characters"}}},
		{"console key empty", nodeSecret, nodeSecret + "\n    console_keys: [\"\"]", []want{{12, "nodes[0].console_keys[0]", "is empty"}}},
		{"console keys on a node with a url", nodeSecret, nodeSecret + "\n    url: \"https://shop.example/hook\"\n    console_keys: [\"shop-console-key-0001\"]", []want{{13, "nodes[0].console_keys", "is for hosted nodes (no url)"}}},

		// Schemes.
		{"unknown scheme", schemeLine, "    scheme: svix", []want{{7, "sources[0].scheme", `unknown scheme "svix": use standard, jwt or twitch-eventsub`}}},
		{"missing scheme", schemeLine, "    rate: 5", []want{{5, "sources[0].scheme", "is required"}}},
		{"jwt without keys", schemeLine + "\n" + secretLine, "    scheme: jwt", []want{{5, "sources[0].secrets", "a jwt source needs secrets (HS256) or jwks (ES256, EdDSA)"}}},
		{"jwt short secret", schemeLine + "\n" + secretLine, "    scheme: jwt\n    secrets: [\"short-secret\"]", []want{{8, "sources[0].secrets[0]", "is too short for HS256"}}},
		{"jwt unknown algorithm", schemeLine + "\n" + secretLine, "    scheme: jwt\n    secrets: [" + jwtSecret + "]\n    algorithms: [HS256, RS256]", []want{{9, "sources[0].algorithms[1]", `unknown algorithm "RS256"`}}},
		{"jwt HS256 without secrets", schemeLine + "\n" + secretLine, "    scheme: jwt\n    jwks: keys.json\n    algorithms: [HS256]", []want{{9, "sources[0].algorithms[0]", "HS256 needs secrets"}}},
		{"jwt ES256 without jwks", schemeLine + "\n" + secretLine, "    scheme: jwt\n    secrets: [" + jwtSecret + "]\n    algorithms: [ES256]", []want{{9, "sources[0].algorithms[0]", "ES256 needs jwks"}}},
		{"jwks over http", schemeLine + "\n" + secretLine, "    scheme: jwt\n    jwks: http://vendor.example/jwks.json", []want{{8, "sources[0].jwks", "must use https"}}},
		{"jwks file URL", schemeLine + "\n" + secretLine, "    scheme: jwt\n    jwks: file:///etc/jwks.json", []want{{8, "sources[0].jwks", "must be a file path or an https URL"}}},
		{"jwt public key after jwks location", schemeLine + "\n" + secretLine, "    scheme: jwt\n    public_keys:\n      - https://vendor.example/jwks.json\n      - whpk_c2hvcnQ=", []want{{10, "sources[0].public_keys[0]", "whpk_ key decodes to 5 bytes"}}},
		{"jwks on standard", secretLine, secretLine + "\n    jwks: keys.json", []want{{9, "sources[0].jwks", "only applies to scheme jwt"}}},
		{"twitch short secret", schemeLine + "\n" + secretLine, "    scheme: twitch-eventsub\n    secrets: [\"short\"]", []want{{8, "sources[0].secrets[0]", "must be 10 to 100 characters"}}},
		{"twitch no secret", schemeLine + "\n" + secretLine, "    scheme: twitch-eventsub", []want{{5, "sources[0].secrets", "needs at least one secret"}}},
		{"negative rate", secretLine, secretLine + "\n    rate: -1", []want{{9, "sources[0].rate", "must not be negative"}}},

		// Durations.
		{"zero duration", secretLine, secretLine + "\n    tolerance: 0s", []want{{9, "sources[0].tolerance", "must be greater than 0"}}},
		{"negative duration", stockLine, stockLine + "\n    window: -5m", []want{{16, "drops[0].window", "must be greater than 0"}}},
		{"duration without unit", stockLine, stockLine + "\n    qr_rotate: 30", []want{{16, "drops[0].qr_rotate", `duration "30" has no unit`}}},
		{"duration garbage", nodeSecret, nodeSecret + "\n    pickup_sla: soon", []want{{12, "nodes[0].pickup_sla", `invalid duration "soon"`}}},
		{"duration in days", "", "dedupe_ttl: 3d", []want{{16, "dedupe_ttl", "days are not a unit; write hours, e.g. 72h"}}},
		{"duration as a list", "", "shutdown_timeout: [1s]", []want{{16, "shutdown_timeout", "expected a duration like 20s or 2h, got a list"}}},

		// Drops.
		{"negative qty", stockLine, `    stock: [{node: shop, sku: sticker, qty: -1}]`, []want{{15, "drops[0].stock[0].qty", "must not be negative"}}},
		{"missing sku", stockLine, `    stock: [{node: shop, qty: 1}]`, []want{{15, "drops[0].stock[0].sku", "is required"}}},
		{"title is fine", stockLine, stockLine + "\n    title: x", nil},
		{"description is fine", stockLine, stockLine + "\n    description: \"Three stickers.\\nDie-cut, 7 cm.\"", nil},
		{"description too long", stockLine, stockLine + "\n    description: " + strings.Repeat("é", 501), []want{{16, "drops[0].description", "is 501 characters long; use at most 500"}}},
		{"description control character", stockLine, stockLine + "\n    description: \"bell\\a\"", []want{{16, "drops[0].description", "has a control character (U+0007) at byte 4: plain text only"}}},
		{"image https is fine", stockLine, stockLine + "\n    image: https://cdn.example:8443/r/pack%201.png?v=2", nil},
		{"image uploaded path is fine", stockLine, stockLine + "\n    image: /i/0123456789abcdef0123456789abcdef.webp", nil},
		{"image over http", stockLine, stockLine + "\n    image: http://cdn.example/pack.png", []want{{16, "drops[0].image", "must be an https URL"}}},
		{"image data URL", stockLine, stockLine + "\n    image: \"data:image/png;base64,iVBORw0KGgo=\"", []want{{16, "drops[0].image", "must be an https URL"}}},
		{"image relative", stockLine, stockLine + "\n    image: pack.png", []want{{16, "drops[0].image", "must be an https URL"}}},
		{"image uploaded path, bad hash", stockLine, stockLine + "\n    image: /i/0123456789ABCDEF0123456789abcdef.png", []want{{16, "drops[0].image", "must be an https URL"}}},
		{"image uploaded path, svg", stockLine, stockLine + "\n    image: /i/0123456789abcdef0123456789abcdef.svg", []want{{16, "drops[0].image", "must be an https URL"}}},
		{"image with a password", stockLine, stockLine + "\n    image: https://u:p@cdn.example/pack.png", []want{{16, "drops[0].image", "must not carry a user name or password"}}},
		{"image with a quote", stockLine, stockLine + "\n    image: \"https://cdn.example/a'b.png\"", []want{{16, "drops[0].image", "quotes and non-ASCII characters must be percent-encoded"}}},
		{"image too long", stockLine, stockLine + "\n    image: https://cdn.example/" + strings.Repeat("a", 2048), []want{{16, "drops[0].image", "is 2068 bytes long; use at most 2048"}}},
		{"duplicate stock line", stockLine, "    stock:\n      - {node: shop, sku: sticker, qty: 10}\n      - {node: shop, sku: sticker, qty: 5}", []want{{17, "drops[0].stock[1]", `duplicate stock line for node "shop" and sku "sticker" (first at line 16)`}}},
		{"no stock", stockLine, "    stock: []", []want{{15, "drops[0].stock", "at least one stock line is required"}}},
		{"stock missing", stockLine, "    title: Pack", []want{{13, "drops[0].stock", "at least one stock line is required"}}},
		{"negative quorum", stockLine, stockLine + "\n    quorum: -1", []want{{16, "drops[0].quorum", "must be at least 1"}}},
		{"quorum above sources", stockLine, stockLine + "\n    quorum: 2", []want{{16, "drops[0].quorum", `is 2 but creator "ava" has 1 source(s)`}}},
		{"negative per_viewer", stockLine, stockLine + "\n    per_viewer: -2", []want{{16, "drops[0].per_viewer", "must be at least 1"}}},
		{"bad identity", stockLine, stockLine + "\n    identity: phone", []want{{16, "drops[0].identity", `unknown identity "phone": use device, email or token`}}},
		{"bad compensation kind", stockLine, stockLine + "\n    compensation: {kind: refund}", []want{{16, "drops[0].compensation.kind", `unknown kind "refund"`}}},
		{"code without codes_file", stockLine, stockLine + "\n    compensation:\n      kind: code", []want{{17, "drops[0].compensation.codes_file", "is required for kind code"}}},
		{"webhook without url and secret", stockLine, stockLine + "\n    compensation: {kind: webhook}", []want{{16, "drops[0].compensation.url", "is required for kind webhook"}, {16, "drops[0].compensation.secret", "is required for kind webhook"}}},
		{"webhook bad secret", stockLine, stockLine + "\n    compensation:\n      kind: webhook\n      url: https://shop.example/comp\n      secret: whsec_c2hvcnQ=", []want{{19, "drops[0].compensation.secret", "secret decodes to 5 bytes"}}},
		{"codes_file with kind none", stockLine, stockLine + "\n    compensation: {codes_file: codes.txt}", []want{{16, "drops[0].compensation.codes_file", "only applies to kind code"}}},
		{"compensation value negative, bad currency", stockLine, stockLine + webhookComp + "\n      value: {amount: \"-2.50\", currency: eur}", []want{{20, "drops[0].compensation.value.amount", `"-2.50" must not be negative`}, {20, "drops[0].compensation.value.currency", `"eur" must be an ISO 4217 code`}}},
		{"compensation value three decimals", stockLine, stockLine + webhookComp + "\n      value:\n        amount: 2.505\n        currency: EURO", []want{{21, "drops[0].compensation.value.amount", `"2.505" must be a decimal with at most 2 decimals`}, {22, "drops[0].compensation.value.currency", `"EURO" must be an ISO 4217 code`}}},
		{"compensation value without currency", stockLine, stockLine + webhookComp + "\n      value: {amount: 2}", []want{{20, "drops[0].compensation.value.currency", "is required with amount"}}},
		{"compensation value without amount", stockLine, stockLine + webhookComp + "\n      value: {currency: EUR}", []want{{20, "drops[0].compensation.value.amount", "is required with currency"}}},
		{"compensation value with kind none", stockLine, stockLine + "\n    compensation: {value: {amount: 2, currency: EUR}}", []want{{16, "drops[0].compensation.value", "only applies to kinds code and webhook"}}},
		{"compensation value unknown key", stockLine, stockLine + webhookComp + "\n      value: {amount: 2, currency: EUR, vat: 0.2}", []want{{20, "drops[0].compensation.value.vat", "unknown key"}}},

		// Nodes, creators and process settings.
		{"node url relative", nodeSecret, nodeSecret + "\n    url: node.example/hook", []want{{12, "nodes[0].url", "must be an absolute http(s) URL"}}},
		{"node url ftp", nodeSecret, nodeSecret + "\n    url: ftp://node.example/hook", []want{{12, "nodes[0].url", "must be an absolute http(s) URL"}}},
		{"no overlay keys", keysLine, "    name: Ava", []want{{2, "creators[0].overlay_keys", "at least one overlay key is required"}}},
		{"empty overlay key", keysLine, `    overlay_keys: [""]`, []want{{3, "creators[0].overlay_keys[0]", "is empty"}}},
		{"short overlay key", keysLine, `    overlay_keys: ["short"]`, []want{{3, "creators[0].overlay_keys[0]", "is too short: use at least 16 characters"}}},
		{"public_url relative", "", "public_url: /drops", []want{{16, "public_url", "must be an absolute http(s) URL"}}},
		{"public_url query", "", "public_url: https://x.example/?a=b", []want{{16, "public_url", "must not have a query"}}},
		{"short admin token", "", "admin_token: abc", []want{{16, "admin_token", "is too short: use at least 16 characters"}}},
		{"bad listen", "", "listen: 8080", []want{{16, "listen", "must be host:port"}}},
		{"bad metrics_listen", "", "metrics_listen: metrics", []want{{16, "metrics_listen", "must be host:port"}}},
		{"metrics_listen on listen", "", "listen: \":8080\"\nmetrics_listen: \":8080\"", []want{{17, "metrics_listen", "must differ from listen"}}},
		{"bad redis url", "", "redis_url: http://x", []want{{16, "redis_url", "must be a redis://, rediss://, unix://, redis+cluster:// or rediss+cluster:// URL"}}},
		{"key prefix braces", "", "key_prefix: \"{dw}:\"", []want{{16, "key_prefix", "must not contain { or }"}}},
		{"bad log level", "", "log_level: loud", []want{{16, "log_level", `unknown level "loud"`}}},
		{"bad log format", "", "log_format: xml", []want{{16, "log_format", `unknown format "xml"`}}},
		{"negative max_body", "", "max_body: -1", []want{{16, "max_body", "must be greater than 0"}}},
		{"two documents", "", "---\nlisten: \":1\"", []want{{17, "", "only one YAML document is allowed"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base + tc.new + "\n"
			if tc.old != "" {
				in = edit(t, tc.old, tc.new)
			}
			_, err := Parse("test.yaml", []byte(in), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			checkProblems(t, "test.yaml", problems(t, err), tc.want)
		})
	}
}

func TestValidVariants(t *testing.T) {
	tests := []struct{ name, old, new string }{
		{"unprefixed standard secret", `"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`, `"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`},
		{"public key only", `    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]`, `    public_keys: ["whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="]`},
		{"explicit zero quorum is defaulted", "qty: 10}]", "qty: 10}]\n    quorum: 0"},
		{"zero qty", "qty: 10", "qty: 0"},
		{"jwt with jwks url in public_keys", "    scheme: standard\n    secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]", "    scheme: jwt\n    public_keys: [\"https://vendor.example/jwks.json\"]"},
		{"jwks on loopback http", "    scheme: standard\n    secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]", "    scheme: jwt\n    jwks: http://127.0.0.1:9999/jwks.json"},
		{"webhook compensation", "qty: 10}]", "qty: 10}]\n    compensation: {kind: webhook, url: \"https://shop.example/c\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}"},
		{"compensation value", "qty: 10}]", "qty: 10}]\n    compensation: {kind: webhook, url: \"https://shop.example/c\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", value: {amount: 2.50, currency: EUR}}"},
		{"compensation value zero, string", "qty: 10}]", "qty: 10}]\n    compensation: {kind: webhook, url: \"https://shop.example/c\", secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\", value: {amount: \"0\", currency: USD}}"},
		{"unix redis", "creators:", "redis_url: unix:///run/redis.sock\ncreators:"},
		{"hosted node without a secret", `    secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="`, `    console_keys: ["shop-console-key-0001", "shop-console-key-0002"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, edit(t, tc.old, tc.new), nil)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
	// An amount written as a YAML number keeps its text: 2.50, not 2.5.
	cv := mustParse(t, edit(t, tests[7].old, tests[7].new), nil)
	if v := cv.Drops[0].Compensation.Value; v != (Money{Amount: "2.50", Currency: "EUR"}) {
		t.Errorf("compensation value = %+v", v)
	}
	c := mustParse(t, edit(t, "    scheme: standard\n    secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]", "    scheme: jwt\n    public_keys: [\"https://vendor.example/jwks.json\"]"), nil)
	if s := c.Sources[0]; s.JWKS != "https://vendor.example/jwks.json" || len(s.PublicKeys) != 0 || strings.Join(s.Algorithms, ",") != "ES256,EdDSA" {
		t.Errorf("jwt source = %+v", s)
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Path: "a.b", Msg: "bad"}, "f.yaml:3: a.b: bad"},
		{Problem{File: "$DROPWIRE_LISTEN", Path: "listen", Msg: "bad"}, "$DROPWIRE_LISTEN: listen: bad"},
		{Problem{Path: "drop.id", Msg: "bad"}, "drop.id: bad"},
		{Problem{File: "f.yaml", Line: 1, Msg: "bad"}, "f.yaml:1: bad"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestCheckDrop(t *testing.T) {
	c := mustParse(t, base, nil)
	d := &Drop{ID: "new", Creator: "ava", Stock: []StockLine{{Node: "shop", SKU: "x", Qty: 3}}}
	if err := c.CheckDrop(d); err != nil {
		t.Fatalf("CheckDrop: %v", err)
	}
	if d.Window.D() != DefaultWindow || d.Identity != IdentityDevice {
		t.Errorf("defaults not applied: %+v", d)
	}
	bad := &Drop{ID: "new", Creator: "bob", Stock: []StockLine{{Node: "nowhere", SKU: "x", Qty: -1}}}
	checkProblems(t, "", problems(t, c.CheckDrop(bad)), []want{
		{0, "drop.creator", `unknown creator "bob"`},
		{0, "drop.stock[0].node", `unknown node "nowhere"`},
		{0, "drop.stock[0].qty", "must not be negative"},
	})
}
