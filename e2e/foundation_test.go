package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// The demo needs no setup: it answers /healthz, prints the overlay and
// dashboard URLs and a curl command that really triggers the drop.
func TestDemo(t *testing.T) {
	p := start(t, nil, "demo", "--listen", "127.0.0.1:0")
	p.waitOutput("Stop with Ctrl-C.")
	out := p.Stdout()
	for _, want := range []string{
		"http://" + p.addr + "/overlay/demo?key=",
		"http://" + p.addr + "/dashboard",
		"curl -sS -X POST 'http://" + p.addr + "/v1/hooks/demo-capture'",
		"webhook-signature: v1,",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
	if code, body := get(t, p.url("/healthz")); code != 200 {
		t.Fatalf("/healthz = %d %s", code, body)
	}

	// Run the printed command as a user would paste it.
	i := strings.Index(out, "curl ")
	j := strings.Index(out[i:], "\n\n")
	curl := out[i : i+j]
	res, err := exec.Command("bash", "-c", curl).CombinedOutput()
	if err != nil {
		t.Fatalf("printed curl failed: %v\n%s\n%s", err, curl, res)
	}
	if !strings.Contains(string(res), `"status":"accepted"`) || !strings.Contains(string(res), `"state":"opened"`) {
		t.Fatalf("printed curl answered %s", res)
	}
	res, _ = exec.Command("bash", "-c", curl).CombinedOutput()
	if !strings.Contains(string(res), `"status":"duplicate"`) {
		t.Fatalf("the same curl again answered %s", res)
	}

	// The open drop's claim link is printed as one line; the terminal QR
	// only with --qr-terminal.
	p.waitOutput("Claim: http://" + p.addr + "/c/")
	if strings.ContainsAny(p.Stdout(), "█▀▄") {
		t.Fatalf("the demo drew a terminal QR without --qr-terminal:\n%s", p.Stdout())
	}

	// The printed send command signs a fresh event with the printed secret.
	i = strings.Index(out, "dropwire send ")
	j = strings.Index(out[i:], "\n")
	send := binary + strings.TrimPrefix(out[i:i+j], "dropwire")
	res, err = exec.Command("bash", "-c", send).CombinedOutput()
	if err != nil || !strings.Contains(string(res), `"status":"accepted"`) {
		t.Fatalf("printed send command: %v\n%s\n%s", err, send, res)
	}

	// The demo's source keeps the usual five-minute tolerance, so a vendor
	// testing against it sees a stale signature refused.
	secret := strings.TrimSpace(out[strings.Index(out, "Its secret:")+len("Its secret:"):])
	secret = secret[:strings.IndexByte(secret, '\n')]
	signer, err := stdwebhooks.NewSigner(secret)
	if err != nil {
		t.Fatalf("printed secret %q: %v", secret, err)
	}
	body := `{"type":"drop.trigger","drop":"demo-drop","moment":"demo-stale"}`
	req, _ := http.NewRequest(http.MethodPost, p.url("/v1/hooks/demo-capture"), strings.NewReader(body))
	req.Header = signer.Headers("evt_demo_stale", time.Now().Add(-10*time.Minute), []byte(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(stale), "timestamp") {
		t.Fatalf("a 10-minute-old signature: %d %s; want 401 naming the timestamp", resp.StatusCode, stale)
	}
	if code := p.signal(syscall.SIGINT, 10*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT = %d", code)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "dropwire ") {
		t.Fatalf("version: %d %q", code, out)
	}
	for _, sub := range []string{"serve", "demo", "check-config", "version"} {
		_, errOut, code := runCmd(t, nil, sub, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage: dropwire "+sub) {
			t.Errorf("%s --help: exit %d\n%s", sub, code, errOut)
		}
	}
	if _, _, code := runCmd(t, nil, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit = %d, want 2", code)
	}
}

// check-config names every mistake with its line and exits 1; serve
// refuses the same file with the same messages.
func TestCheckConfigMistakes(t *testing.T) {
	const file = "../internal/config/testdata/mistakes.yaml"
	want := []string{
		file + ":8: creators[1].id: duplicate id",
		file + ":14: sources[0].secrets[1]: whsec_ secret does not decode",
		file + ":15: sources[0].tolerence: unknown key",
		file + ":23: drops[0].stock[0].node: unknown node \"corner-bookz\"",
		file + ":24: drops[0].stock[1].qty: must not be negative",
	}
	_, errOut, code := runCmd(t, nil, "check-config", file)
	if code != 1 {
		t.Fatalf("check-config exit = %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			t.Errorf("check-config output lacks %q:\n%s", w, errOut)
		}
	}
	_, serveErr, code := runCmd(t, nil, "serve", "--config", file, "--listen", "127.0.0.1:0")
	if code != 1 {
		t.Fatalf("serve on a bad file exit = %d, want 1", code)
	}
	for _, w := range want {
		if !strings.Contains(serveErr, w) {
			t.Errorf("serve output lacks %q:\n%s", w, serveErr)
		}
	}
	if strings.Contains(serveErr, "listening") {
		t.Fatal("serve listened on a bad file")
	}

	good := writeFile(t, "good.yaml", minimalConfig(""))
	out, errOut, code := runCmd(t, []string{"TEST_PREFIX=e2e-check:"}, "check-config", good)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check-config on a good file: %d %s %s", code, out, errOut)
	}
}

// minimalConfig is a valid configuration with one creator, source, node and
// drop; redisURL may be empty (memory store).
func minimalConfig(redisURL string) string {
	var b strings.Builder
	b.WriteString("public_url: \"http://127.0.0.1:8080\"\n")
	if redisURL != "" {
		fmt.Fprintf(&b, "redis_url: %q\n", redisURL)
	}
	b.WriteString(`key_prefix: "${TEST_PREFIX}"
creators:
  - id: ava
    overlay_keys: ["ava-overlay-key-0001"]
sources:
  - id: capture
    creator: ava
    scheme: standard
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
nodes:
  - id: corner-books
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
drops:
  - id: sticker-spring
    creator: ava
    stock:
      - {node: corner-books, sku: sticker-pack, qty: 10}
`)
	return b.String()
}

// A private redis-server: /readyz follows it down and back up without
// restarting dropwire.
func TestReadyzFollowsRedis(t *testing.T) {
	port := freePort(t)
	redis := startRedis(t, port)
	cfg := writeFile(t, "dw.yaml", minimalConfig(fmt.Sprintf("redis://127.0.0.1:%d/0", port)))
	p := start(t, []string{"TEST_PREFIX=e2e-readyz:"}, "serve", "--config", cfg, "--listen", "127.0.0.1:0")

	if code, body := get(t, p.url("/readyz")); code != 200 {
		t.Fatalf("/readyz with Redis up = %d %s", code, body)
	}
	redis.stop()
	waitStatus(t, p.url("/readyz"), 503, 2*time.Second)
	_, body := get(t, p.url("/readyz"))
	if !strings.Contains(body, `"code":"store_unavailable"`) {
		t.Fatalf("/readyz body = %s", body)
	}
	if code, _ := get(t, p.url("/healthz")); code != 200 {
		t.Fatalf("/healthz with Redis down = %d (the process is alive)", code)
	}
	startRedis(t, port)
	waitStatus(t, p.url("/readyz"), 200, 10*time.Second)
}

// waitStatus polls url until it answers want, failing after within.
func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			last = resp.StatusCode
			_ = resp.Body.Close()
			if last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d within %v (last %d)", url, want, within, last)
}

type redisProc struct {
	t   *testing.T
	cmd *exec.Cmd
}

// startRedis runs a private redis-server on port, without persistence.
func startRedis(t *testing.T, port int) *redisProc {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (install it with apt-get install redis-server, or run ./scripts/test)", err)
	}
	r := &redisProc{t: t, cmd: cmd}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := io.ReadFull(c, buf)
			_ = c.Close()
			if n == 7 && bytes.Equal(buf, []byte("+PONG\r\n")) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on %d did not answer", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisProc) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// SIGTERM while requests are in flight: they complete, then the process
// exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	p := start(t, []string{"TEST_PREFIX=e2e-sigterm:"}, "serve", "--config", writeFile(t, "dw.yaml", minimalConfig("")), "--listen", "127.0.0.1:0")

	// Webhooks whose bodies arrive slowly are in flight while the signal
	// lands; each is answered in full.
	const n = 5
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, n)
	started := make(chan struct{}, n)
	for i := range n {
		go func() {
			pr, pw := io.Pipe()
			body := signedEvent(t, fmt.Sprintf("evt-slow-%d", i))
			req, _ := http.NewRequest("POST", p.url("/v1/hooks/capture"), pr)
			for k, v := range body.headers {
				req.Header[k] = v
			}
			req.ContentLength = int64(len(body.body))
			go func() {
				_, _ = pw.Write(body.body[:10])
				started <- struct{}{}
				time.Sleep(700 * time.Millisecond)
				_, _ = pw.Write(body.body[10:])
				_ = pw.Close()
			}()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results <- result{status: resp.StatusCode, body: string(b)}
		}()
	}
	for range n {
		<-started
	}
	time.Sleep(100 * time.Millisecond) // let the requests reach the handler
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range n {
		r := <-results
		if r.err != nil || r.status != http.StatusAccepted || !strings.Contains(r.body, `"status":"accepted"`) {
			t.Fatalf("in-flight request during shutdown: %+v", r)
		}
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("dropwire still running 10 s after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
}
