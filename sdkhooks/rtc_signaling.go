package sdkhooks

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/dropwire/dropwire/internal/problem"
)

// RTCPath is the base path of the signaling endpoints.
const RTCPath = "/v1/rtc/"

// Register routes the WHIP-shaped signaling endpoints with handle (e.g.
// server.Handle or (*http.ServeMux).Handle):
//
//	POST    /v1/rtc/{source}            offer → 201, Location, answer
//	DELETE  /v1/rtc/{source}/{session}  → 204
//	OPTIONS (both)                      CORS preflight
//	PATCH   (both)                      → 405: no trickle ICE
func (s *RTC) Register(handle func(pattern string, h http.Handler)) {
	handle("POST /v1/rtc/{source}", http.HandlerFunc(s.offer))
	handle("DELETE /v1/rtc/{source}/{session}", http.HandlerFunc(s.delete))
	handle("OPTIONS /v1/rtc/{source}", http.HandlerFunc(s.preflight))
	handle("OPTIONS /v1/rtc/{source}/{session}", http.HandlerFunc(s.preflight))
	handle("PATCH /v1/rtc/{source}", http.HandlerFunc(s.patch))
	handle("PATCH /v1/rtc/{source}/{session}", http.HandlerFunc(s.patch))
}

// cors lets a browser page of any origin signal: the bearer token, not
// the origin, is what authorises.
func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Location")
}

func (s *RTC) preflight(w http.ResponseWriter, _ *http.Request) {
	cors(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	h.Set("Allow", "POST, DELETE, OPTIONS")
	w.WriteHeader(http.StatusNoContent)
}

func (s *RTC) patch(w http.ResponseWriter, _ *http.Request) {
	cors(w)
	w.Header().Set("Allow", "POST, DELETE, OPTIONS")
	problem.Respond(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "trickle ICE is not supported: send a complete offer")
}

// authorize finds the source and checks the bearer token; it answers the
// request itself when it returns false.
func (s *RTC) authorize(w http.ResponseWriter, r *http.Request) (*rtcSource, time.Time, bool) {
	id := r.PathValue("source")
	src, ok := s.sources[id]
	if !ok {
		problem.Respond(w, http.StatusNotFound, CodeUnknownSource, "no source "+strconv.Quote(id))
		return nil, time.Time{}, false
	}
	if src.tokens == nil {
		problem.Respond(w, http.StatusForbidden, CodeWebRTCDisabled, "source "+strconv.Quote(id)+" may not open data channels (webrtc: false)")
		return nil, time.Time{}, false
	}
	exp, err := src.tokens.verify(r.Header.Get("Authorization"), s.cfg.Now())
	if err != nil {
		code := RTCCode(err)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		s.metrics.offers.WithLabelValues(code).Inc()
		problem.Respond(w, http.StatusUnauthorized, code, err.Error())
		return nil, time.Time{}, false
	}
	return src, exp, true
}

// offer handles POST /v1/rtc/{source}. The token is verified first; no
// PeerConnection exists before the token, content type, offer and peer
// caps have all passed.
func (s *RTC) offer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cors(w)
	src, exp, ok := s.authorize(w, r)
	if !ok {
		return
	}
	refuse := func(status int, code, detail string) {
		s.metrics.offers.WithLabelValues(code).Inc()
		problem.Respond(w, status, code, detail)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		w.Header().Set("Accept-Post", "application/sdp")
		refuse(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the offer must be sent as application/sdp")
		return
	}
	body, err := readBody(w, r, s.cfg.MaxOffer)
	if err != nil {
		if errors.Is(err, ErrPayloadTooLarge) {
			refuse(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, err.Error())
		} else {
			refuse(http.StatusBadRequest, CodeBadSDP, "the offer could not be read")
		}
		return
	}
	if err := checkOffer(body); err != nil {
		refuse(http.StatusBadRequest, CodeBadSDP, err.Error())
		return
	}
	p, err := s.reserve(src, exp)
	if err != nil {
		pr := problem.New(http.StatusServiceUnavailable, RTCCode(err), err.Error())
		pr.RetryAfter = 5 * time.Second
		s.metrics.offers.WithLabelValues(pr.Code).Inc()
		problem.Write(w, pr)
		return
	}
	answer, err := p.connect(r.Context(), string(body))
	if err != nil {
		if errors.Is(err, ErrBadSDP) {
			refuse(http.StatusBadRequest, CodeBadSDP, err.Error())
			return
		}
		if errors.Is(err, ErrRTCClosed) {
			refuse(http.StatusServiceUnavailable, CodeShuttingDown, err.Error())
			return
		}
		s.log.Warn().Err(err).Str("source", src.cfg.ID).Msg("data-channel offer failed")
		refuse(http.StatusInternalServerError, "internal", "the offer could not be answered")
		return
	}
	s.metrics.offers.WithLabelValues("created").Inc()
	s.metrics.setup.Observe(time.Since(start).Seconds())
	s.log.Info().Str("source", src.cfg.ID).Str("session", p.id).Msg("data-channel peer opened")

	h := w.Header()
	h.Set("Location", RTCPath+src.cfg.ID+"/"+p.id)
	h.Set("Content-Type", "application/sdp")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(answer))
}

// delete handles DELETE /v1/rtc/{source}/{session}: the same token rules
// as the offer; the session must belong to the source. It answers once
// the peer is closed.
func (s *RTC) delete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	src, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	p := s.peer(r.PathValue("session"))
	if p == nil || p.src != src {
		problem.Respond(w, http.StatusNotFound, CodeUnknownSession, "no open session with that id for this source")
		return
	}
	p.close("deleted")
	select {
	case <-p.done:
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkOffer parses the offer and requires a data channel in it, before
// any PeerConnection is made for it.
func checkOffer(body []byte) error {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return fmt.Errorf("%w: the offer does not parse as SDP", ErrBadSDP)
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "application" {
			continue
		}
		for _, f := range m.MediaName.Formats {
			if f == "webrtc-datachannel" {
				return nil
			}
		}
		if strings.Contains(strings.Join(m.MediaName.Protos, "/"), "SCTP") {
			return nil
		}
	}
	return fmt.Errorf("%w: the offer has no data channel (m=application … webrtc-datachannel)", ErrBadSDP)
}
