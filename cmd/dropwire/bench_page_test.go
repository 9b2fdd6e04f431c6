package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/internal/store/storetest"
	"github.com/dropwire/dropwire/web"
)

const pageReferenceEnv = "DROPWIRE_TEST_PAGE_REFERENCE" // its arguments, separated by newlines

// TestBenchPageReferenceChild is the reference server's process in
// TestRunBenchPage: this test binary, run again with its arguments.
func TestBenchPageReferenceChild(t *testing.T) {
	args, ok := os.LookupEnv(pageReferenceEnv)
	if !ok {
		t.Skip("child process of TestRunBenchPage")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	env := &environ{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}
	if err := runBenchPageReference(ctx, env, strings.Split(args, "\n")); err != nil {
		t.Fatal(err)
	}
}

// bench page reads the code off the drop's overlay (opening the drop
// first), finds the page's assets, and measures both mixes on Dropwire
// and on the reference, which answers the same bytes.
func TestRunBenchPage(t *testing.T) {
	saved := referenceCommand
	referenceCommand = func(args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchPageReferenceChild$", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), pageReferenceEnv+"="+strings.Join(args, "\n"))
		return cmd, nil
	}
	t.Cleanup(func() { referenceCommand = saved })

	prefix := storetest.Prefix(t)
	storetest.RedisWithPrefix(t, prefix) // deletes the keys at the end
	conf := strings.Replace(rtcBenchConfig, "rtc_loopback: true\n",
		"rtc_loopback: true\nredis_url: \""+storetest.URL()+"\"\nkey_prefix: \""+prefix+"\"\nclaim_rate_ip: -1\nclaim_rate_device: -1\n", 1)
	path := filepath.Join(t.TempDir(), "dropwire.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env, out, errb := rtcCmdEnv(t)
	cfg, err := loadConfig(env, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Server().Handler())
	t.Cleanup(func() { ts.Close(); _ = a.Shutdown(context.Background()) })

	err = runBenchPage(context.Background(), env, []string{"--config", path, "--drop", "pack", "--url", ts.URL,
		"--requests", "400", "--slices", "2", "--rounds", "1", "--concurrency", "4", "--json"})
	if err != nil {
		t.Fatalf("%v: %s", err, errb)
	}
	var res struct {
		Code    string   `json:"code"`
		Targets []string `json:"targets"`
		Bytes   []int    `json:"body_bytes"`
		Load    string   `json:"load_before"`
		Runs    []struct {
			Mix   string  `json:"mix"`
			Ratio float64 `json:"ratio"`
			Sides []struct {
				Name   string `json:"name"`
				CPU    bool   `json:"cpu_measured"`
				Result struct {
					Sent   int            `json:"sent"`
					Status map[string]int `json:"status"`
				} `json:"result"`
			} `json:"sides"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []string{"/c/" + res.Code, web.AssetURL("claim.css"), web.AssetURL("claim.js")}
	if len(res.Code) == 0 || !slices.Equal(res.Targets, want) || len(res.Bytes) != 3 || slices.Contains(res.Bytes, 0) {
		t.Fatalf("targets %v (want %v), bytes %v", res.Targets, want, res.Bytes)
	}
	if len(res.Runs) != 2 || res.Runs[0].Mix != "page" || res.Runs[1].Mix != "visit" {
		t.Fatalf("runs: %+v", res.Runs)
	}
	for _, r := range res.Runs {
		if len(r.Sides) != 2 || r.Sides[0].Name != "reference" || r.Sides[1].Name != "dropwire" || r.Ratio <= 0 {
			t.Fatalf("%s: %+v", r.Mix, r)
		}
		for _, s := range r.Sides {
			if s.Result.Sent != 400 || s.Result.Status["200"] != 400 {
				t.Errorf("%s on %s: %+v", r.Mix, s.Name, s.Result)
			}
			if runtime.GOOS == "linux" && !s.CPU {
				t.Errorf("%s on %s: no CPU time", r.Mix, s.Name)
			}
		}
	}
	if runtime.GOOS == "linux" && res.Load == "" {
		t.Error("no load average")
	}
}

// A claim page names its stylesheet, script and picture; the bench takes
// the ones on its own server, unescaped.
func TestPageAssets(t *testing.T) {
	html := []byte(`<link rel="stylesheet" href="/static/claim.css?v=1&amp;x=2">` +
		`<img id="dw-image" src="/i/0123.png" alt="">` + `<img id="dw-image" src="https://cdn.example/a.png">` +
		`<script src="/static/claim.js?v=2" defer></script>`)
	got := pageAssets(html)
	if want := []string{"/static/claim.css?v=1&x=2", "/i/0123.png", "/static/claim.js?v=2"}; !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
}
