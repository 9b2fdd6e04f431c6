package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name      string
		p         *Problem
		wantRetry string
		wantExtra map[string]any
	}{
		{name: "plain", p: New(http.StatusGone, "sold_out", "no stock left")},
		{name: "retry after rounds up", p: &Problem{Type: "about:blank", Title: "Too Many Requests", Status: 429, Code: "rate_limited", RetryAfter: 1500 * time.Millisecond}, wantRetry: "2"},
		{name: "extra members", p: New(http.StatusConflict, "already_claimed", "").With("claim_id", "c_1"), wantExtra: map[string]any{"claim_id": "c_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, tt.p)
			if rec.Code != tt.p.Status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.p.Status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Fatalf("Content-Type = %q", ct)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Fatalf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if m["code"] != tt.p.Code || m["type"] != "about:blank" || m["status"] != float64(tt.p.Status) || m["title"] == "" {
				t.Fatalf("body = %v", m)
			}
			for k, v := range tt.wantExtra {
				if m[k] != v {
					t.Fatalf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}
}
