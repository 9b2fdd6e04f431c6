package admin

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
)

// maxCodesBody limits a codes upload: some 50 000 codes of 20 characters.
const maxCodesBody = 1 << 20

// CodesResult answers a codes upload.
type CodesResult struct {
	Drop string `json:"drop"`
	// Received is the distinct codes of the upload; Added those the pool
	// never held (a code handed out or uploaded before is not added again).
	Received int `json:"received"`
	Added    int `json:"added"`
	// Available is the codes in the pool now; Low is set while they are
	// fewer than 10 % of the drop's stock.
	Available int64 `json:"available"`
	Low       bool  `json:"low"`
}

// putCompensationCodes serves PUT /v1/admin/drops/{id}/compensation-codes:
// a text/plain body, one code a line (the codes_file format), adds the
// codes its pool never held. Uploading the same list twice adds nothing
// the second time, so a failed upload can simply be repeated. The whole
// body is checked before any code is added.
func (a *Admin) putCompensationCodes(w http.ResponseWriter, r *http.Request) {
	d, ok := a.lookup(w, r)
	if !ok {
		return
	}
	if d.Compensation.Kind != config.CompensationCode {
		problem.Write(w, problem.New(http.StatusConflict, "not_code_compensation",
			fmt.Sprintf("the drop compensates with kind %q: only kind code hands out codes", d.Compensation.Kind)).
			With("kind", d.Compensation.Kind))
		return
	}
	if a.cfg.Pools == nil {
		problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "this server keeps no compensation pools")
		return
	}
	if p := plainText(r.Header.Get("Content-Type")); p != nil {
		problem.Write(w, p)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCodesBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.Respond(w, http.StatusRequestEntityTooLarge, "payload_too_large",
				"the body is over 1 MiB: upload the codes in several parts (repeats are not added twice)")
			return
		}
		problem.Respond(w, http.StatusBadRequest, "malformed_request", "could not read the body")
		return
	}
	codes, err := config.ParseCodes(body)
	var ce *config.CodeError
	switch {
	case errors.As(err, &ce):
		problem.Write(w, problem.New(http.StatusBadRequest, "invalid_code", ce.Error()+"; nothing was added").
			With("line", ce.Line))
		return
	case err != nil:
		problem.Respond(w, http.StatusBadRequest, "no_codes",
			"the body holds no codes: one code a line (blank lines and lines starting with # are skipped)")
		return
	}
	added, _, err := a.cfg.Pools.AddCodes(r.Context(), d.ID, codes)
	if err != nil {
		a.storeProblem(w, "could not add every code (repeat the upload: codes added already are not added twice)", err)
		return
	}
	left, low, err := a.cfg.Pools.PoolStatus(r.Context(), d)
	if err != nil {
		a.storeProblem(w, "codes added; could not read the pool", err)
		return
	}
	a.log.Info().Str("drop", d.ID).Int("received", len(codes)).Int("added", added).Int64("available", left).
		Msg("compensation codes uploaded")
	writeJSON(w, http.StatusOK, CodesResult{Drop: d.ID, Received: len(codes), Added: added, Available: left, Low: low})
}

// plainText checks a codes upload's Content-Type: text/plain, in UTF-8
// (or its subset US-ASCII) when a charset is named.
func plainText(ct string) *problem.Problem {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/plain" {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the codes as text/plain, one code a line")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the codes in UTF-8 (charset=utf-8)")
	}
	return nil
}
