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

// The ingest scenario against a running server, open and closed loop:
// every signed request is answered, and what the source's rate limit
// refuses is counted as such, not as an error.
func TestBenchIngest(t *testing.T) {
	env := []string{"TEST_PREFIX=e2e-bench-ingest:"}
	cfg := writeFile(t, "dw.yaml", minimalConfig(""))
	p := start(t, env, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	base := "http://" + p.addr

	type result struct {
		Sent    int            `json:"sent"`
		Status  map[string]int `json:"status"`
		Errors  map[string]int `json:"errors"`
		Latency struct {
			Count int   `json:"count"`
			P50   int64 `json:"p50_ns"`
			P99   int64 `json:"p99_ns"`
		} `json:"latency"`
	}
	for _, tc := range []struct {
		name string
		args []string
		sent func(int) bool
	}{
		{"open loop", []string{"--rate", "100", "--duration", "1s", "--concurrency", "8"}, func(n int) bool { return n >= 90 && n <= 101 }},
		{"closed loop", []string{"--requests", "300", "--concurrency", "8"}, func(n int) bool { return n == 300 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "ingest", "--config", cfg, "--source", "capture", "--url", base, "--json"}, tc.args...)
			out, errOut, code := runCmd(t, env, args...)
			if code != 0 {
				t.Fatalf("bench ingest: %d\n%s", code, errOut)
			}
			var r result
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("bench ingest --json: %v\n%s", err, out)
			}
			if !tc.sent(r.Sent) || len(r.Errors) != 0 || r.Latency.Count != r.Sent || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
				t.Fatalf("bench ingest result: %+v", r)
			}
			// The source allows 50/s with its burst: the rest is 429.
			if r.Status["202"] == 0 || r.Status["202"]+r.Status["429"] != r.Sent {
				t.Fatalf("status mix %v of %d sent", r.Status, r.Sent)
			}
			if tc.name == "closed loop" && r.Status["429"] == 0 {
				t.Fatalf("300 requests at once passed a 50/s limit: %v", r.Status)
			}
		})
	}
}

// The claim burst against a running server, as phones do it: each viewer
// opens the claim page and claims with the device cookie it set. The
// stock goes to the first viewers, every other one is told sold out, no
// claim is refused for want of a device, and nothing is oversold. Behind a
// trusted proxy (--xff) the per-IP limit stays on and counts each viewer
// apart, so none is limited.
func TestBenchClaims(t *testing.T) {
	for _, tc := range []struct {
		name, settings string
		args           []string
	}{
		{"limits off", "claim_rate_ip: -1\nclaim_rate_device: -1\n", nil},
		{"behind a trusted proxy", "trusted_proxies: [\"127.0.0.1/32\"]\n", []string{"--xff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"TEST_PREFIX=e2e-bench-claims:"}
			cfg := writeFile(t, "dw.yaml", strings.Replace(minimalConfig(""), "creators:", tc.settings+"creators:", 1))
			p := start(t, env, "serve", "--config", cfg, "--listen", "127.0.0.1:0")

			args := append([]string{"bench", "claims", "--config", cfg, "--drop", "sticker-spring",
				"--url", "http://" + p.addr, "--requests", "200", "--concurrency", "8", "--json"}, tc.args...)
			out, errOut, code := runCmd(t, env, args...)
			if code != 0 {
				t.Fatalf("bench claims: %d\n%s\n%s", code, out, errOut)
			}
			var r struct {
				Pages struct {
					Status map[string]int `json:"status"`
				} `json:"pages"`
				Load struct {
					Status map[string]int `json:"status"`
				} `json:"load"`
				Check struct {
					Created  int  `json:"created"`
					Oversold bool `json:"oversold"`
				} `json:"check"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("bench claims --json: %v\n%s", err, out)
			}
			if r.Pages.Status["200"] != 200 || r.Load.Status["201"] != 10 || r.Load.Status["410"] != 190 ||
				len(r.Load.Status) != 2 || r.Check.Created != 10 || r.Check.Oversold {
				t.Fatalf("bench claims result: %+v", r)
			}
		})
	}
}
