package app

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// /metrics says whether Redis answers, asked at each scrape: 1, then 0
// while Redis is down, then 1 again once it is back.
func TestMetricsStoreUp(t *testing.T) {
	rs := storetest.StartPrivateRedis(t)
	st, err := store.NewRedis(store.RedisConfig{URL: rs.URL(), Prefix: storetest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	_, srv := adminApp(t, nil, st)
	up := func(v string) error {
		want := `# HELP dropwire_store_up 1 when the store answered a ping at scrape time, 0 when it did not.
# TYPE dropwire_store_up gauge
dropwire_store_up ` + v + "\n"
		return testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want), "dropwire_store_up")
	}
	if err := up("1"); err != nil {
		t.Fatalf("Redis up: %v", err)
	}
	rs.Kill()
	if err := up("0"); err != nil {
		t.Fatalf("Redis down: %v", err)
	}
	rs.Start()
	if err := up("1"); err != nil {
		t.Fatalf("Redis back: %v", err)
	}
}
