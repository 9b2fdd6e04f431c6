package app

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

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

	want := `# HELP dropwire_pubsub_dropped_total Pub/sub messages dropped because a subscriber's buffer was full.
# TYPE dropwire_pubsub_dropped_total counter
dropwire_pubsub_dropped_total 3
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want), "dropwire_pubsub_dropped_total"); err != nil {
		t.Fatal(err)
	}
}
