// Package problem writes RFC 9457 problem details, the one error shape of
// Dropwire's HTTP API. Every handler answers errors through Write so that
// each carries a stable machine `code` clients can switch on.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of problem details.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object with Dropwire's `code`
// member. Extra members (e.g. "claim_id") go in Extra.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Code   string         `json:"code"`
	Detail string         `json:"detail,omitempty"`
	Extra  map[string]any `json:"-"`
	// RetryAfter, when positive, is sent as the Retry-After header (whole
	// seconds, rounded up).
	RetryAfter time.Duration `json:"-"`
}

// New returns a problem with the standard title of status.
func New(status int, code, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// Error makes a Problem usable as an error returned by domain code.
func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// With returns p with an extra member set.
func (p *Problem) With(key string, value any) *Problem {
	if p.Extra == nil {
		p.Extra = make(map[string]any, 1)
	}
	p.Extra[key] = value
	return p
}

// MarshalJSON merges Extra into the object; the standard members win.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 5+len(p.Extra))
	for k, v := range p.Extra {
		m[k] = v
	}
	m["type"] = p.Type
	m["title"] = p.Title
	m["status"] = p.Status
	m["code"] = p.Code
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	return json.Marshal(m)
}

// Write sends p as the response.
func Write(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	if p.RetryAfter > 0 {
		secs := int64((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Extra held something unencodable: drop it rather than the answer.
		body, _ = json.Marshal(&Problem{Type: p.Type, Title: p.Title, Status: p.Status, Code: p.Code, Detail: p.Detail})
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// Respond writes a problem built from its parts.
func Respond(w http.ResponseWriter, status int, code, detail string) {
	Write(w, New(status, code, detail))
}
