package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// With metrics_listen, /metrics and the profiles are on the operators'
// listener only: the public one answers 404 for them.
func TestMetricsListen(t *testing.T) {
	ops := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	file := writeFile(t, "dropwire.yaml", `listen: "127.0.0.1:0"
metrics_listen: "`+ops+`"
log_format: json
creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
`)
	p := start(t, nil, "serve", "--config", file)
	if code, body := get(t, p.url("/metrics")); code != 404 {
		t.Errorf("public /metrics = %d %.80s, want 404", code, body)
	}
	if code, _ := get(t, p.url("/debug/pprof/")); code != 404 {
		t.Errorf("public /debug/pprof/ = %d, want 404", code)
	}
	if code, _ := get(t, p.url("/healthz")); code != 200 {
		t.Errorf("public /healthz = %d, want 200", code)
	}
	code, body := get(t, "http://"+ops+"/metrics")
	if code != 200 || !strings.Contains(body, "dropwire_http_requests_total") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("operators' /metrics = %d, want 200 with Dropwire's and Go's metrics:\n%.300s", code, body)
	}
	if code, body := get(t, "http://"+ops+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("operators' /debug/pprof/ = %d %.80s", code, body)
	}
}
