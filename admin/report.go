package admin

import (
	"bytes"
	"context"
	"net/http"

	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/verifier"
)

// CampaignLog reads what a campaign's report is made of
// (*verifier.CampaignLog).
type CampaignLog interface {
	Read(ctx context.Context, campaign string) (*verifier.CampaignLogData, error)
}

// report serves GET /v1/admin/campaigns/{id}/report (JSON, or CSV with
// ?format=csv) and /report.csv.
func (a *Admin) report(csvPath bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("format")
		switch {
		case csvPath && format != "" && format != "csv":
			problem.Respond(w, http.StatusBadRequest, "bad_format", "report.csv is CSV: leave out format, or use /report?format=json")
			return
		case csvPath:
			format = "csv"
		case format == "":
			format = "json"
		case format != "json" && format != "csv":
			problem.Respond(w, http.StatusBadRequest, "bad_format", "format must be json or csv")
			return
		}
		if a.cfg.Campaigns == nil || a.cfg.CampaignLog == nil {
			a.campaignError(w, ErrUnknownCampaign)
			return
		}
		cp, ok := a.cfg.Campaigns.Campaign(r.PathValue("id"))
		if !ok {
			a.campaignError(w, ErrUnknownCampaign)
			return
		}
		data, err := a.cfg.CampaignLog.Read(r.Context(), cp.ID)
		if err != nil {
			a.storeProblem(w, "could not read the campaign's log", err)
			return
		}
		rep := verifier.BuildCampaignReport(cp, data, a.cfg.Config.Node, a.now())
		if format == "json" {
			writeJSON(w, http.StatusOK, rep)
			return
		}
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			problem.Respond(w, http.StatusInternalServerError, "internal", "the report could not be written")
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+cp.ID+`-report.csv"`)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.Bytes())
	}
}
