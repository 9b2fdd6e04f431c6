package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.yaml.in/yaml/v3"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// scrape is what one GET /metrics exposed: each sample name (a
// histogram's _bucket, _sum and _count included) with the label names
// its samples carry.
type scrape map[string]map[string]bool

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.StatusCode)
	}
	out := scrape{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels := parseSample(t, line)
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range labels {
			out[name][l] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseSample splits a text-format sample line into its name and label
// names; label values may hold escaped quotes, commas and braces.
func parseSample(t *testing.T, line string) (string, []string) {
	t.Helper()
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		t.Fatalf("sample line %q", line)
	}
	name := line[:i]
	if line[i] != '{' {
		return name, nil
	}
	var labels []string
	s := line[i+1:]
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return name, labels
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			t.Fatalf("sample line %q: bad labels", line)
		}
		labels = append(labels, s[:eq])
		s = s[eq+2:]
		for j := 0; ; j++ {
			if j >= len(s) {
				t.Fatalf("sample line %q: unterminated label value", line)
			}
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				s = s[j+1:]
				break
			}
		}
	}
}

// query is one PromQL expression of the example and where it is.
type query struct{ where, expr string }

func alertQueries(t *testing.T) []query {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var out []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, query{"alerts.yml " + r.Alert, r.Expr})
		}
	}
	return out
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			out = append(out, query{fmt.Sprintf("dashboard %q %s", p.Title, q.RefID), q.Expr})
		}
	}
	return out
}

var (
	// metricName matches the names Dropwire and its Go client export;
	// "up" is Prometheus's own.
	metricName = regexp.MustCompile(`\b((?:dropwire|go|process|promhttp)_[a-zA-Z0-9_]+)\b`)
	selector   = regexp.MustCompile(`\b((?:dropwire|go|process|promhttp)_[a-zA-Z0-9_]+)\s*\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// targetLabels are the labels Prometheus adds to every scraped sample.
var targetLabels = map[string]bool{"job": true, "instance": true}

// checkQuery reports each metric of q that the scrape lacks, each label
// matcher on a label its metric does not carry, and each grouping label
// that none of q's metrics carries.
func checkQuery(s scrape, q query) []string {
	var problems []string
	labels := map[string]bool{}
	for k := range targetLabels {
		labels[k] = true
	}
	for _, m := range metricName.FindAllStringSubmatch(q.expr, -1) {
		have, ok := s[m[1]]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s is not in /metrics", q.where, m[1]))
		}
		for l := range have {
			labels[l] = true
		}
	}
	for _, m := range selector.FindAllStringSubmatch(q.expr, -1) {
		have := s[m[1]]
		for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
			if have != nil && !have[l[1]] && !targetLabels[l[1]] {
				problems = append(problems, fmt.Sprintf("%s: %s has no label %q", q.where, m[1], l[1]))
			}
		}
	}
	for _, m := range grouping.FindAllStringSubmatch(q.expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !labels[l] {
				problems = append(problems, fmt.Sprintf("%s: no metric of the query has label %q", q.where, l))
			}
		}
	}
	return problems
}

// Every metric, label matcher and grouping label of the alert rules and
// the dashboard is in a real scrape of a replica that served one drop:
// the examples cannot drift from the code unnoticed.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	// The example's node is hosted; a node with a url of its own (on
	// loopback, accepting everything) brings the series of deliveries
	// over HTTP.
	var delivered atomic.Int64
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
	}))
	t.Cleanup(shop.Close)
	shopSecret := config.NewWebhookSecret()
	rs := startReplicas(t, 1, func(c *config.Config) {
		c.Nodes = append(c.Nodes, config.Node{ID: "test-shop", Name: "Test shop", URL: shop.URL, Secret: shopSecret})
		c.Drops[0].Stock = append(c.Drops[0].Stock, config.StockLine{Node: "test-shop", SKU: "sticker-pack", Tier: "standard", Qty: 10})
		c.ApplyDefaults()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	r := rs[0]
	cfg := r.app.Config()
	c := http.DefaultClient

	ov := dialOverlay(t, websocket.DefaultDialer, r.url, cfg)
	if code := postEvent(t, c, r.url, cfg, "evt-forged", map[string]any{"type": "drop.trigger", "drop": cfg.Drops[0].ID}, false); code != http.StatusUnauthorized {
		t.Fatalf("forged webhook: %d", code)
	}
	trigger(t, c, r.url, cfg, "evt-1")
	st := ov.until("the drop open", isOpen)
	claim(t, c, r.url, claimURL(t, st), "corner-books")
	id := claim(t, c, r.url, claimURL(t, st), "test-shop")
	eventually(t, 10*time.Second, "the delivery to the test shop", func() bool { return delivered.Load() > 0 })
	// The shop cannot hand it out: a failed pickup, compensated.
	body := []byte(`{"type":"claim.failed","claim":"` + id + `","reason":"out of stock"}`)
	signer, err := stdwebhooks.NewSigner(shopSecret)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.url+"/v1/fulfillment/test-shop/events", bytes.NewReader(body))
	req.Header = signer.Headers("cb-1", time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("claim.failed callback: %d", res.StatusCode)
	}

	queries := append(alertQueries(t), dashboardQueries(t)...)
	if len(queries) < 25 {
		t.Fatalf("only %d queries found in alerts.yml and the dashboard", len(queries))
	}
	// The forwarder's gauges and the SLA counter appear on their loops'
	// next pass: scrape until nothing is missing, then report what still is.
	var problems []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := scrapeMetrics(t, r.metrics)
		problems = problems[:0]
		for _, q := range queries {
			problems = append(problems, checkQuery(s, q)...)
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(problems)
	for _, p := range slices.Compact(problems) {
		t.Error(p)
	}
}

// The checker itself catches a renamed metric, a label its metric lacks
// and a grouping by a label nobody has.
func TestCheckQueryFindsDrift(t *testing.T) {
	s := scrape{"dropwire_claims_total": {"result": true}, "dropwire_store_up": {}}
	for _, tc := range []struct {
		expr string
		want int
	}{
		{`sum by (result) (rate(dropwire_claims_total{result="error"}[5m]))`, 0},
		{`dropwire_store_up == 0 and on (instance) up{job="dropwire"} == 1`, 0},
		{`sum by (result) (rate(dropwire_claim_total[5m]))`, 2},
		{`rate(dropwire_claims_total{outcome="error"}[5m])`, 1},
		{`sum by (node) (dropwire_claims_total)`, 1},
	} {
		if got := checkQuery(s, query{"test", tc.expr}); len(got) != tc.want {
			t.Errorf("%s: %d problems %v, want %d", tc.expr, len(got), got, tc.want)
		}
	}
}

// dashboardRules writes the dashboard's queries as recording rules, with
// Grafana's interval variables replaced, so promtool checks their syntax.
func dashboardRules(t *testing.T) string {
	t.Helper()
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, q := range dashboardQueries(t) {
		expr := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "15s").Replace(q.expr)
		if strings.Contains(expr, "$") {
			t.Fatalf("%s: unknown variable in %q", q.where, q.expr)
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/dashboard-rules.yml"
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
