package sdkhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/problem"
	"github.com/dropwire/dropwire/verifier"
)

// DefaultMaxBody is the webhook body limit when none is configured.
const DefaultMaxBody = 64 << 10

// maxDrain is how far over its limit a refused body is still read.
const maxDrain = 256 << 10

// Ingester is where verified events go: verifier.Verifier.
type Ingester interface {
	Ingest(ctx context.Context, src verifier.Source, ev verifier.Event) (verifier.Result, error)
	Reject(source, reason string)
}

// HooksConfig configures the webhook endpoint.
type HooksConfig struct {
	Sources  []config.Source
	Ingester Ingester
	// MaxBody limits request bodies; default DefaultMaxBody.
	MaxBody    int64
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Hooks serves POST /v1/hooks/{source}: it verifies the signature over the
// raw body before parsing anything, decodes the capture event and hands it
// to the Ingester.
type Hooks struct {
	sources     map[string]*hookSource
	ingest      Ingester
	maxBody     int64
	log         zerolog.Logger
	now         func() time.Time
	revocations *prometheus.CounterVec
}

type hookSource struct {
	cfg      config.Source
	verifier Verifier
	twitch   *Twitch
	src      verifier.Source
}

// NewHooks builds the verifiers of every source.
func NewHooks(cfg HooksConfig) (*Hooks, error) {
	if cfg.Ingester == nil {
		return nil, errors.New("sdkhooks: Ingester is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Hooks{
		sources: make(map[string]*hookSource, len(cfg.Sources)),
		ingest:  cfg.Ingester,
		maxBody: cfg.MaxBody,
		log:     cfg.Logger,
		now:     cfg.Now,
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dropwire_twitch_revocations_total",
			Help: "Twitch EventSub subscription revocations received, by source and subscription type.",
		}, []string{"source", "subscription"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(h.revocations); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Sources {
		v, err := NewVerifier(s)
		if err != nil {
			return nil, fmt.Errorf("sdkhooks: source %q: %w", s.ID, err)
		}
		hs := &hookSource{cfg: s, verifier: v, src: verifier.Source{ID: s.ID, Creator: s.Creator, Rate: s.Rate, Burst: s.Burst}}
		hs.twitch, _ = v.(*Twitch)
		h.sources[s.ID] = hs
	}
	return h, nil
}

// ServeHTTP handles one webhook; the route must bind {source}.
func (h *Hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now()
	src, ok := h.sources[r.PathValue("source")]
	if !ok {
		problem.Respond(w, http.StatusNotFound, "unknown_source", "no source "+strconv.Quote(r.PathValue("source")))
		return
	}
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		h.reject(w, src, err)
		return
	}
	verified, err := src.verifier.Verify(r.Header, body, received)
	if err != nil {
		h.reject(w, src, err)
		return
	}

	var env Envelope
	switch verified.Kind {
	case KindChallenge:
		// Twitch subscribes the callback by asking for the challenge back.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, verified.Challenge)
		h.log.Info().Str("source", src.cfg.ID).Str("subscription", verified.Subscription).Msg("eventsub callback verified")
		return
	case KindRevocation:
		h.revocations.WithLabelValues(src.cfg.ID, verified.Subscription).Inc()
		h.log.Warn().Str("source", src.cfg.ID).Str("subscription", verified.Subscription).Msg("eventsub subscription revoked")
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "revoked"})
		return
	case KindNotification:
		drop, matched, err := src.twitch.Trigger(body, src.cfg.Triggers)
		if err != nil {
			h.reject(w, src, err)
			return
		}
		if !matched {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored"})
			return
		}
		env = Envelope{ID: verified.EventID, Type: TypeDropTrigger, Drop: drop, Moment: verified.EventID}
	default:
		env, err = DecodeEnvelope(body, verified.EventID)
		if err != nil {
			h.reject(w, src, err)
			return
		}
	}

	res, err := h.ingest.Ingest(r.Context(), src.src, verifier.Event{
		Source:     src.cfg.ID,
		Channel:    verifier.ChannelWebhook,
		ID:         env.ID,
		Type:       env.Type,
		Drop:       env.Drop,
		Moment:     env.Moment,
		OccurredAt: env.OccurredAt,
		Data:       env.Data,
		ReceivedAt: received,
	})
	if err != nil {
		h.reject(w, src, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(append(res.AppendJSON(make([]byte, 0, 256)), '\n'))
}

// reject answers err as a problem and counts it.
func (h *Hooks) reject(w http.ResponseWriter, src *hookSource, err error) {
	p := Problem(err)
	if p.Status >= 500 {
		h.log.Warn().Err(err).Str("source", src.cfg.ID).Msg("webhook not stored")
	}
	// Rate-limited and store failures are counted by the Ingester.
	if p.Code != "rate_limited" && p.Code != "store_unavailable" {
		h.ingest.Reject(src.cfg.ID, p.Code)
	}
	problem.Write(w, p)
}

// Problem maps an ingest error to its problem response.
func Problem(err error) *problem.Problem {
	var rl *verifier.RateLimitError
	switch {
	case errors.As(err, &rl):
		p := problem.New(http.StatusTooManyRequests, "rate_limited", "source is over its rate; retry later")
		p.RetryAfter = max(rl.RetryAfter, time.Second)
		return p
	case errors.Is(err, verifier.ErrUnknownDrop):
		return problem.New(http.StatusNotFound, "unknown_drop", err.Error())
	case errors.Is(err, verifier.ErrForbiddenDrop):
		return problem.New(http.StatusForbidden, "forbidden_drop", "the drop belongs to another creator than this source's")
	case errors.Is(err, verifier.ErrInvalidEvent):
		return problem.New(http.StatusBadRequest, "malformed_event", err.Error())
	}
	switch code := Code(err); code {
	case "payload_too_large":
		return problem.New(http.StatusRequestEntityTooLarge, code, err.Error())
	case "malformed_event":
		return problem.New(http.StatusBadRequest, code, err.Error())
	case "missing_signature", "bad_signature", "stale_timestamp":
		return problem.New(http.StatusUnauthorized, code, err.Error())
	}
	// Anything else is the store failing: nothing was written, so the sender
	// must retry.
	return problem.New(http.StatusServiceUnavailable, "store_unavailable", "the event was not stored; retry")
}

// readBody reads the raw body up to limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		if r.ContentLength <= limit+maxDrain {
			// Read what is not much over the limit, so that a client still
			// sending it gets the 413 and not a reset connection (the
			// server closes without draining when the client asked to).
			_, _ = io.CopyN(io.Discard, r.Body, r.ContentLength)
		}
		return nil, fmt.Errorf("%w: body of %d bytes is over the %d byte limit", ErrPayloadTooLarge, r.ContentLength, limit)
	}
	if r.ContentLength >= 0 {
		// The usual case: one allocation of the announced size.
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, fmt.Errorf("%w: body shorter than its Content-Length", ErrMalformedEvent)
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: body is over the %d byte limit", ErrPayloadTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: body could not be read", ErrMalformedEvent)
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem.Respond(w, http.StatusInternalServerError, "internal", "response could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
