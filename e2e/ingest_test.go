package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
