package verifier

import (
	"encoding/csv"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// CampaignReport is what a campaign did: claims and their outcomes, the
// nodes' sales against their baselines, and claimants' D7 retention. The
// README ("Campaign report") defines every figure.
type CampaignReport struct {
	Campaign    string      `json:"campaign"`
	Title       string      `json:"title"`
	StartsAt    string      `json:"starts_at"`
	EndsAt      string      `json:"ends_at"`
	Days        float64     `json:"days"`
	GeneratedAt string      `json:"generated_at"`
	Total       ReportRow   `json:"total"`
	Drops       []ReportRow `json:"drops"`
	Regions     []ReportRow `json:"regions"`
	Nodes       []ReportRow `json:"nodes"`
	Tiers       []ReportRow `json:"tiers"`
	Retention   Retention   `json:"retention"`
	// ClaimsOverTime is each region's claims over the campaign, for the
	// dashboard's charts.
	ClaimsOverTime ClaimsOverTime `json:"claims_over_time"`
}

// ReportRow is the figures of one drop, region, node or tier, or of the
// whole campaign. A rate over no claims is null.
type ReportRow struct {
	Key      string `json:"key"`
	Claims   int    `json:"claims"`
	PickedUp int    `json:"picked_up"`
	// RedemptionRate is PickedUp / Claims.
	RedemptionRate *float64 `json:"redemption_rate"`
	// Pickup24hRate is the claims picked up within 24 h of being made,
	// over Claims.
	Pickup24hRate *float64 `json:"pickup_24h_rate"`
	// TimeToPickupP50/P95 are nearest-rank percentiles of the seconds from
	// claim to pickup over the picked-up claims (null: none).
	TimeToPickupP50 *int64 `json:"time_to_pickup_p50_s"`
	TimeToPickupP95 *int64 `json:"time_to_pickup_p95_s"`
	// SLAHitRate is the claims picked up by their pickup deadline, over
	// Claims.
	SLAHitRate *float64 `json:"sla_hit_rate"`
	// Failures is the claims that were rejected, failed pickup or failed
	// forwarding; Compensations counts what the policy did, by kind.
	Failures      int            `json:"failures"`
	Compensations map[string]int `json:"compensations"`
	// Compensated is the claims the policy compensated (a code given, the
	// creator's webhook delivered); CompensationCost the sum, by currency,
	// of their drops' compensation.value as it was when each was
	// compensated (claims of drops without a value add nothing).
	Compensated      int               `json:"compensated"`
	CompensationCost map[string]string `json:"compensation_cost"`
	// Sales is the sales reported in the campaign; Revenue their sum by
	// currency, a decimal with 2 places.
	Sales   int               `json:"sales"`
	Revenue map[string]string `json:"revenue"`
	// Claimants is the distinct viewers who made the row's claims;
	// SalesPerClaimant is Sales / Claimants, and RevenuePerClaimant
	// Revenue / Claimants by currency (2 places, half rounded up). Null
	// and empty without claimants.
	Claimants          int               `json:"claimants"`
	SalesPerClaimant   *float64          `json:"sales_per_claimant"`
	RevenuePerClaimant map[string]string `json:"revenue_per_claimant"`
	// SalesPerDay is Sales / the campaign's days. BaselineSalesPerDay is
	// the sum of the baselines of the row's nodes that have one, and
	// Uplift = (the sales of those nodes / days − baseline) / baseline;
	// both null without a baseline.
	SalesPerDay         float64  `json:"sales_per_day"`
	BaselineSalesPerDay *float64 `json:"baseline_sales_per_day"`
	Uplift              *float64 `json:"uplift"`
}

// Retention is the campaign's D7 retention among claimants.
type Retention struct {
	// Claimants is the distinct viewer keys that claimed in the campaign;
	// ReturnedD7 those that claimed again, in any drop, within 7 days
	// of their first claim in the campaign.
	Claimants  int      `json:"claimants"`
	ReturnedD7 int      `json:"returned_d7"`
	D7Rate     *float64 `json:"d7_rate"`
	// BaselineD7 is the rate of a comparable cohort, when one is known;
	// Note says when it is not.
	BaselineD7 *float64 `json:"d7_baseline"`
	Note       string   `json:"note,omitempty"`
}

// rowAcc adds up one row.
type rowAcc struct {
	row       ReportRow
	ttp       []int64 // seconds
	within24  int
	slaHit    int
	minor     map[string]int64
	cost      map[string]int64
	viewers   map[string]bool
	baseSales int // sales of nodes with a baseline
	baseline  float64
	hasBase   bool
}

func newRowAcc(key string) *rowAcc {
	return &rowAcc{row: ReportRow{Key: key, Compensations: map[string]int{}, Revenue: map[string]string{},
		CompensationCost: map[string]string{}, RevenuePerClaimant: map[string]string{}},
		minor: map[string]int64{}, cost: map[string]int64{}, viewers: map[string]bool{}}
}

// claim counts claim c, of id id.
func (a *rowAcc) claim(id string, c CampaignClaim) {
	a.row.Claims++
	// A record without a viewer key (written before records had one)
	// stands for a claimant of its own.
	viewer := "v:" + c.Viewer
	if c.Viewer == "" {
		viewer = "c:" + id
	}
	a.viewers[viewer] = true
	if c.PickedUp > 0 {
		a.row.PickedUp++
		d := c.PickedUp - c.Created
		a.ttp = append(a.ttp, d/1000)
		if d <= (24 * time.Hour).Milliseconds() {
			a.within24++
		}
		if c.PickupBy == 0 || c.PickedUp <= c.PickupBy {
			a.slaHit++
		}
	}
	if c.Failed > 0 {
		a.row.Failures++
	}
	if c.Compensation != "" {
		a.row.Compensations[c.Compensation]++
	}
	if c.Compensated > 0 {
		a.row.Compensated++
		if c.CostCurrency != "" {
			a.cost[c.CostCurrency] += c.CostMinor
		}
	}
}

func (a *rowAcc) sale(s CampaignSale, hasBaseline bool) {
	a.row.Sales++
	a.minor[s.Currency] += s.Minor
	if hasBaseline {
		a.baseSales++
	}
}

func (a *rowAcc) done(days float64) ReportRow {
	r := a.row
	if r.Claims > 0 {
		r.RedemptionRate = rate(r.PickedUp, r.Claims)
		r.Pickup24hRate = rate(a.within24, r.Claims)
		r.SLAHitRate = rate(a.slaHit, r.Claims)
	}
	if len(a.ttp) > 0 {
		sort.Slice(a.ttp, func(i, j int) bool { return a.ttp[i] < a.ttp[j] })
		r.TimeToPickupP50, r.TimeToPickupP95 = nearestRank(a.ttp, 50), nearestRank(a.ttp, 95)
	}
	r.Claimants = len(a.viewers)
	for cur, m := range a.minor {
		r.Revenue[cur] = config.FormatMinor(m)
		if r.Claimants > 0 {
			c := int64(r.Claimants)
			r.RevenuePerClaimant[cur] = config.FormatMinor((2*m + c) / (2 * c))
		}
	}
	for cur, m := range a.cost {
		r.CompensationCost[cur] = config.FormatMinor(m)
	}
	if r.Claimants > 0 {
		r.SalesPerClaimant = rate(r.Sales, r.Claimants)
	}
	if days > 0 {
		r.SalesPerDay = round4(float64(r.Sales) / days)
		if a.hasBase && a.baseline > 0 {
			b := a.baseline
			u := round4((float64(a.baseSales)/days - b) / b)
			r.BaselineSalesPerDay, r.Uplift = &b, &u
		}
	}
	return r
}

// nearestRank is the p-th percentile of sorted by the nearest-rank
// method: the value at rank ⌈p/100 · n⌉.
func nearestRank(sorted []int64, p int) *int64 {
	k := (p*len(sorted) + 99) / 100
	v := sorted[max(k, 1)-1]
	return &v
}

func rate(n, d int) *float64 {
	v := round4(float64(n) / float64(d))
	return &v
}

// round4 rounds to 4 decimals: rates are shown as 0.6667.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// BuildCampaignReport computes the report of cp from its log. node looks
// nodes up (region, baseline); now stamps it.
func BuildCampaignReport(cp *config.Campaign, data *CampaignLogData, node func(string) (*config.Node, bool), now time.Time) CampaignReport {
	rep := CampaignReport{Campaign: cp.ID, Title: cp.Title, StartsAt: cp.StartsAt, EndsAt: cp.EndsAt,
		GeneratedAt: now.UTC().Format(time.RFC3339)}
	sch, err := cp.Schedule()
	if err == nil {
		rep.Days = round4(sch.Ends.Sub(sch.Starts).Hours() / 24)
	}
	regionOf := func(id string) string {
		if n, ok := node(id); ok && n.Region != "" {
			return n.Region
		}
		return "(none)"
	}
	baselineOf := func(id string) (float64, bool) {
		n, ok := node(id)
		if !ok || n.BaselineSalesPerDay <= 0 {
			return 0, false
		}
		return n.BaselineSalesPerDay, true
	}
	total := newRowAcc("total")
	groups := map[string]map[string]*rowAcc{"drop": {}, "region": {}, "node": {}, "tier": {}}
	acc := func(kind, key string) *rowAcc {
		a := groups[kind][key]
		if a == nil {
			a = newRowAcc(key)
			groups[kind][key] = a
		}
		return a
	}
	rows := func(drop, node, tier string) []*rowAcc {
		if tier == "" {
			tier = "(none)"
		}
		return []*rowAcc{total, acc("drop", drop), acc("region", regionOf(node)), acc("node", node), acc("tier", tier)}
	}
	for id, c := range data.Claims {
		for _, a := range rows(c.Drop, c.Node, c.Tier) {
			a.claim(id, c)
		}
	}
	for _, s := range data.Sales {
		if err != nil || s.At < sch.Starts.UnixMilli() || s.At >= sch.Ends.UnixMilli() {
			continue
		}
		_, hb := baselineOf(s.Node)
		for _, a := range rows(s.Drop, s.Node, s.Tier) {
			a.sale(s, hb)
		}
	}
	// Baselines: per node, and summed over each region's nodes and the
	// whole campaign's (every node that took a claim or made a sale).
	seen := map[string]bool{}
	for id, a := range groups["node"] {
		b, ok := baselineOf(id)
		if !ok {
			continue
		}
		a.baseline, a.hasBase = b, true
		if !seen[id] {
			seen[id] = true
			r := groups["region"][regionOf(id)]
			r.baseline, r.hasBase = r.baseline+b, true
			total.baseline, total.hasBase = total.baseline+b, true
		}
	}
	rep.Total = total.done(rep.Days)
	for kind, dst := range map[string]*[]ReportRow{"drop": &rep.Drops, "region": &rep.Regions, "node": &rep.Nodes, "tier": &rep.Tiers} {
		out := []ReportRow{}
		for _, a := range groups[kind] {
			out = append(out, a.done(rep.Days))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		*dst = out
	}
	if err == nil {
		regions := make([]string, len(rep.Regions))
		for i, r := range rep.Regions {
			regions[i] = r.Key
		}
		rep.ClaimsOverTime = claimsOverTime(sch.Starts, sch.Ends, data.Claims, regions, regionOf)
	} else {
		rep.ClaimsOverTime = ClaimsOverTime{Starts: []string{}, Regions: []RegionSeries{}}
	}
	rep.Retention = Retention{Claimants: len(data.Viewers), ReturnedD7: len(data.Returned),
		Note: "no baseline cohort is recorded for this campaign"}
	for v := range data.Returned {
		if _, ok := data.Viewers[v]; !ok {
			rep.Retention.ReturnedD7--
		}
	}
	if rep.Retention.Claimants > 0 {
		rep.Retention.D7Rate = rate(rep.Retention.ReturnedD7, rep.Retention.Claimants)
	}
	return rep
}

// CSVHeader is the first line of a report as CSV.
var CSVHeader = []string{"scope", "key", "claims", "picked_up", "redemption_rate", "pickup_24h_rate",
	"time_to_pickup_p50_s", "time_to_pickup_p95_s", "sla_hit_rate", "failures", "compensations", "sales", "revenue",
	"sales_per_day", "baseline_sales_per_day", "uplift", "claimants", "returned_d7", "d7_rate", "d7_baseline",
	"compensated", "compensation_cost", "sales_per_claimant", "revenue_per_claimant", "bucket_start", "bucket_s"}

// WriteCSV writes the report as CSV: CSVHeader, the total row (scope
// "campaign", with the retention figures), then a row per drop, region,
// node and tier, then a row (scope "claims_over_time") per region and
// bucket of ClaimsOverTime, with its claims, bucket_start and bucket_s.
// Empty fields are nulls; compensations are "kind:n" and amounts "CUR
// amount", several separated by spaces.
func (r CampaignReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(CSVHeader)
	ret := r.Retention
	_ = cw.Write(csvRow("campaign", r.Total, strconv.Itoa(ret.ReturnedD7), optFloat(ret.D7Rate), optFloat(ret.BaselineD7)))
	for _, g := range []struct {
		scope string
		rows  []ReportRow
	}{{"drop", r.Drops}, {"region", r.Regions}, {"node", r.Nodes}, {"tier", r.Tiers}} {
		for _, row := range g.rows {
			_ = cw.Write(csvRow(g.scope, row, "", "", ""))
		}
	}
	t := r.ClaimsOverTime
	for _, reg := range t.Regions {
		for i, n := range reg.Claims {
			line := make([]string, len(CSVHeader))
			line[0], line[1], line[2] = "claims_over_time", reg.Key, strconv.Itoa(n)
			line[len(line)-2], line[len(line)-1] = t.Starts[i], strconv.FormatInt(t.BucketSeconds, 10)
			_ = cw.Write(line)
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvRow is a row of scope; returned, d7 and d7Base are the retention
// columns (empty but on the campaign row).
func csvRow(scope string, r ReportRow, returned, d7, d7Base string) []string {
	return []string{scope, r.Key, strconv.Itoa(r.Claims), strconv.Itoa(r.PickedUp), optFloat(r.RedemptionRate),
		optFloat(r.Pickup24hRate), optInt(r.TimeToPickupP50), optInt(r.TimeToPickupP95), optFloat(r.SLAHitRate),
		strconv.Itoa(r.Failures), joinCounts(r.Compensations), strconv.Itoa(r.Sales), joinRevenue(r.Revenue),
		strconv.FormatFloat(r.SalesPerDay, 'f', -1, 64), optFloat(r.BaselineSalesPerDay), optFloat(r.Uplift),
		strconv.Itoa(r.Claimants), returned, d7, d7Base,
		strconv.Itoa(r.Compensated), joinRevenue(r.CompensationCost), optFloat(r.SalesPerClaimant),
		joinRevenue(r.RevenuePerClaimant), "", ""}
}

func optFloat(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

func optInt(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

func joinCounts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, k+":"+strconv.Itoa(n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func joinRevenue(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+" "+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
