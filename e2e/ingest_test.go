package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func postSigned(t *testing.T, url string, s signed) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(s.body)))
	for k, v := range s.headers {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Redis stops mid-stream: ingest answers 503 store_unavailable so the
// vendor retries; once Redis is back the same signed retry opens the moment.
func TestIngestWhileRedisDown(t *testing.T) {
	port := freePort(t)
	redis := startRedis(t, port)
	cfg := writeFile(t, "dw.yaml", minimalConfig(fmt.Sprintf("redis://127.0.0.1:%d/0", port)))
	p := start(t, []string{"TEST_PREFIX=e2e-down:"}, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	hook := p.url("/v1/hooks/capture")

	redis.stop()
	ev := signedEvent(t, "evt-during-outage")
	status, body := postSigned(t, hook, ev)
	var prob struct{ Code string }
	_ = json.Unmarshal([]byte(body), &prob)
	if status != 503 || prob.Code != "store_unavailable" {
		t.Fatalf("webhook with Redis down: %d %s", status, body)
	}

	startRedis(t, port)
	waitStatus(t, p.url("/readyz"), 200, 10*time.Second)
	status, body = postSigned(t, hook, ev)
	if status != 202 || !strings.Contains(body, `"status":"accepted"`) || !strings.Contains(body, `"state":"opened"`) {
		t.Fatalf("vendor's retry after Redis returned: %d %s", status, body)
	}
	if status, body = postSigned(t, hook, ev); status != 202 || !strings.Contains(body, `"status":"duplicate"`) {
		t.Fatalf("second retry: %d %s", status, body)
	}
}

// The vendor tools: `sign --curl` prints a command that works as pasted,
// and `send` posts a signed event and reports the answer.
func TestSignAndSend(t *testing.T) {
	env := []string{"TEST_PREFIX=e2e-sign:"}
	cfg := writeFile(t, "dw.yaml", minimalConfig(""))
	p := start(t, env, "serve", "--config", cfg, "--listen", "127.0.0.1:0")

	out, errOut, code := runCmd(t, env, "sign", "--config", cfg, "--source", "capture")
	if code != 0 || !strings.Contains(out, "webhook-signature: v1,") || !strings.Contains(out, `"type":"drop.trigger"`) {
		t.Fatalf("sign: %d\n%s%s", code, out, errOut)
	}
	curl, errOut, code := runCmd(t, env, "sign", "--config", cfg, "--source", "capture", "--moment", "m-shared", "--curl", "http://"+p.addr)
	if code != 0 {
		t.Fatalf("sign --curl: %d %s", code, errOut)
	}
	res, err := exec.Command("bash", "-c", curl).CombinedOutput()
	if err != nil || !strings.Contains(string(res), `"state":"opened"`) {
		t.Fatalf("signed curl: %v %s", err, res)
	}
	out, errOut, code = runCmd(t, env, "send", "--config", cfg, "--source", "capture", "--moment", "m-shared", "--url", "http://"+p.addr)
	if code != 0 || !strings.HasPrefix(out, "202 Accepted") || !strings.Contains(out, `"state":"corroboration"`) {
		t.Fatalf("send: %d\n%s%s", code, out, errOut)
	}
	_, _, code = runCmd(t, env, "send", "--config", cfg, "--source", "nobody", "--url", "http://"+p.addr)
	if code == 0 {
		t.Fatal("send as an unknown source succeeded")
	}
}
