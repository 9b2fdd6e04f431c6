package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// The overlay load scenarios against a running server: every trigger
// reaches every overlay, and an idle overlay's memory is reported.
func TestBenchOverlayScenarios(t *testing.T) {
	env := []string{"TEST_PREFIX=e2e-bench:"}
	cfg := writeFile(t, "dw.yaml", strings.Replace(minimalConfig(""), "creators:",
		"admin_token: \"bench-admin-token-0123456789\"\ncreators:", 1))
	p := start(t, env, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr

	out, errOut, code := runCmd(t, env, "bench", "moment", "--config", cfg, "--source", "capture",
		"--admin-token", "bench-admin-token-0123456789", "--url", base, "--overlays", "3", "--events", "5", "--rate", "20", "--json")
	if code != 0 {
		t.Fatalf("bench moment: %d\n%s", code, errOut)
	}
	var m struct {
		Events   int     `json:"events"`
		Received float64 `json:"received_fraction"`
		Latency  struct {
			Count int   `json:"count"`
			P99   int64 `json:"p99_ns"`
		} `json:"sent_to_frame"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("bench moment --json: %v\n%s", err, out)
	}
	// At 20/s every state reaches an idle overlay: nothing to conflate.
	if m.Events != 5 || m.Received != 1 || m.Latency.Count != 15 || m.Latency.P99 <= 0 {
		t.Fatalf("bench moment result: %+v", m)
	}

	out, errOut, code = runCmd(t, env, "bench", "overlays", "--config", cfg, "--source", "capture",
		"--url", base, "--overlays", "20", "--hold", "200ms", "--drop", "sticker-spring", "--json")
	if code != 0 {
		t.Fatalf("bench overlays: %d\n%s", code, errOut)
	}
	var o struct {
		Overlays int `json:"overlays"`
		Frames   int `json:"frames_received"`
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Overlays != 20 || o.Frames != 20 {
		t.Fatalf("bench overlays result: %+v %v\n%s", o, err, out)
	}
}
