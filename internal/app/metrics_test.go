package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store"
)

// A subscriber that falls behind loses pub/sub messages; /metrics counts
// them, so an operator sees a replica too slow for its announcements.
func TestMetricsCountDroppedAnnouncements(t *testing.T) {
	st, err := store.NewMemory(store.MemoryConfig{Prefix: "metrics-test:", SubscriptionBuffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	_, srv := adminApp(t, nil, st)

	sub, err := st.Subscribe(t.Context(), "lagging")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	for range 5 { // nobody reads: two fit the buffer, three are dropped
		if err := st.Publish(t.Context(), "lagging", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}

	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.StatusCode)
	}
	if !strings.Contains(string(body), "\ndropwire_pubsub_dropped_total 3\n") {
		t.Fatalf("/metrics has no dropwire_pubsub_dropped_total 3:\n%s", grepLines(string(body), "pubsub"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
