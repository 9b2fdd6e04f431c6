package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/verifier"
)

// item is one outbox entry to attempt: fresh from the stream (entryID set,
// rec nil), taken over from a dead replica (entryID set, deliveries > 1),
// or a due retry (rec set).
type item struct {
	drop       string
	entryID    string
	deliveries int64
	fields     map[string]string
	rec        *retryRecord
}

// retryRecord is an entry waiting in a drop's retry due-set.
type retryRecord struct {
	Fields   map[string]string `json:"fields"`
	Attempts int               `json:"attempts"`
	First    int64             `json:"first"` // ms of the entry's creation
	Last     string            `json:"last,omitempty"`
}

// event returns the entry's stable event id: the webhook-id of every
// attempt.
func (it *item) event() string { return it.fields["event"] }

// startForwarder starts the poller, the wake-up subscription and the
// delivery workers.
func (s *Service) startForwarder(ctx context.Context) {
	work := make(chan item, s.cfg.Workers)
	var workers sync.WaitGroup
	for range s.cfg.Workers {
		s.wg.Add(1)
		workers.Add(1)
		go func() {
			defer s.wg.Done()
			defer workers.Done()
			for it := range work {
				s.deliver(ctx, it)
			}
		}()
	}
	// The delivery log writer outlives the workers: it writes their last
	// attempts, then ends.
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.writeAttempts(s.attempts) }()
	go func() { defer s.wg.Done(); workers.Wait(); close(s.attempts) }()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(work)
		s.poll(ctx, work)
	}()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.listen(ctx) }()
}

// listen turns the announcements that may come with outbox work (a claim
// taken or moved on, or a change it cannot tell) into a wake-up of the
// poller for that drop, so a new claim is forwarded without waiting for
// the next tick. A claim also makes its drop hot. An opening brings no
// work: it wakes nothing.
func (s *Service) listen(ctx context.Context) {
	store.Follow(ctx, s.st, verifier.StateChannel, nil, func(sub store.Subscription) {
		// What was announced while no subscription stood went unheard:
		// poll every drop with work once (a claim touched the backlog
		// before it wrote its entry). Unread, the next full sweep does.
		if wd, err := s.workDrops(ctx); err == nil {
			all := make([]string, len(wd))
			for i, d := range wd {
				all[i] = d.ID
			}
			s.markDirty(all...)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case m, open := <-sub.C():
				if !open {
					return
				}
				a := verifier.ParseAnnouncement(string(m.Payload))
				switch a.Kind {
				case verifier.AnnouncedOpen, verifier.AnnouncedSettings:
					continue
				case verifier.AnnouncedClaim, verifier.AnnouncedClaimState:
					s.heat(a.Drop) // more is likely to follow
				}
				s.markDirty(a.Drop)
			}
		}
	})
}

// markDirty has the poller poll drops at once.
func (s *Service) markDirty(drops ...string) {
	s.hotMu.Lock()
	for _, d := range drops {
		s.dirty[d] = struct{}{}
		delete(s.quiet, d)
	}
	s.hotMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// poll feeds the workers: new entries, entries of dead replicas, and due
// retries.
//
// A wake-up polls the drops announced since the last poll. A tick polls
// the hot drops: those with work in the last hotFor. Every sweepTicks
// ticks a sweep polls every drop of the backlog (verifier.Backlog) that is
// not quiet, for the entries of a dead replica and retries due on a drop
// gone cold, and refreshes the depth metrics. A drop is quiet when a sweep
// found nothing pending and nothing due, and nothing was announced since;
// only a full sweep, every fullSweepTicks, polls it, in case an
// announcement was lost, and releases it from the backlog once nothing
// has been added to it for a while. Drops without work, however many are
// configured, cost nothing.
func (s *Service) poll(ctx context.Context, work chan<- item) {
	tick := time.NewTicker(s.cfg.Tick)
	defer tick.Stop()
	mode := pollFull
	for n := 0; ; {
		swept := s.pollOnce(ctx, work, mode)
		if mode >= pollSweep {
			s.gauge(ctx, swept, mode == pollFull)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n++
			switch {
			case n%fullSweepTicks == 0:
				mode = pollFull
			case n%sweepTicks == 0:
				mode = pollSweep
			default:
				mode = pollHot
			}
		case <-s.wake:
			mode = pollDirty
		}
	}
}

// What one poll covers.
type pollMode int

const (
	pollDirty pollMode = iota // the drops announced since the last poll
	pollHot                   // the hot drops and the announced ones
	pollSweep                 // every drop but the quiet ones
	pollFull                  // every drop
)

// Polling of hot and quiet drops (see poll).
const (
	sweepTicks     = 8
	fullSweepTicks = 8 * sweepTicks
	hotFor         = time.Minute
)

// heat marks drop hot: polled every tick for hotFor.
func (s *Service) heat(drop string) {
	s.hotMu.Lock()
	s.hot[drop] = s.now().Add(hotFor)
	s.hotMu.Unlock()
}

// pollOnce polls the drops mode covers; for a sweep it returns the drops
// of the backlog as read before they were polled.
func (s *Service) pollOnce(ctx context.Context, work chan<- item, mode pollMode) []workDrop {
	sent := false
	send := func(it item) bool {
		sent = true
		select {
		case work <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var backlog []workDrop
	if mode >= pollSweep {
		var err error
		if backlog, err = s.workDrops(ctx); err != nil {
			s.storeErr(ctx, err, "backlog read")
		}
	}
	now := s.now()
	s.hotMu.Lock()
	dirty := s.dirty
	s.dirty = make(map[string]struct{})
	if mode >= pollSweep {
		// Forget what went cold, drops no longer defined included.
		for drop, until := range s.hot {
			if !now.Before(until) {
				delete(s.hot, drop)
			}
		}
	}
	drops := make([]string, 0, len(dirty)+len(s.hot)+len(backlog))
	seen := make(map[string]struct{}, cap(drops))
	add := func(d string) {
		if _, ok := seen[d]; !ok {
			seen[d] = struct{}{}
			drops = append(drops, d)
		}
	}
	for d := range dirty {
		add(d)
	}
	if mode >= pollHot {
		for d, until := range s.hot {
			if now.Before(until) {
				add(d)
			}
		}
	}
	for _, d := range backlog {
		if _, quiet := s.quiet[d.ID]; mode == pollFull || !quiet {
			add(d.ID)
		}
	}
	s.hotMu.Unlock()
	for _, id := range drops {
		if _, err := s.cfg.Drops.Drop(ctx, id); err != nil {
			continue // not (or no longer) defined
		}
		sent = false
		s.pollDrop(ctx, id, send)
		if sent {
			s.heat(id)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return backlog
}

// pollDrop sends the drop's new entries, those taken over from a dead
// replica and its due retries.
func (s *Service) pollDrop(ctx context.Context, drop string, send func(item) bool) {
	stream := outboxKey(drop)
	for ctx.Err() == nil {
		ents, err := s.st.OutboxRead(ctx, stream, Group, s.cfg.Consumer, DefaultBatch, 0)
		if err != nil {
			s.storeErr(ctx, err, "outbox read")
			break
		}
		for _, e := range ents {
			it := item{drop: drop, entryID: e.ID, deliveries: e.Deliveries, fields: e.Fields}
			s.reserveInOrder(ctx, it)
			if !send(it) {
				return
			}
		}
		if len(ents) < DefaultBatch {
			break
		}
	}
	ents, err := s.st.OutboxClaim(ctx, stream, Group, s.cfg.Consumer, s.cfg.Takeover, DefaultBatch)
	if err != nil {
		s.storeErr(ctx, err, "outbox takeover")
	}
	if len(ents) > 0 {
		s.log.Info().Str("drop", drop).Int("entries", len(ents)).Msg("took over pending outbox entries")
	}
	for _, e := range ents {
		if !send(item{drop: drop, entryID: e.ID, deliveries: e.Deliveries, fields: e.Fields}) {
			return
		}
	}
	due, err := s.leaseDue(ctx, drop)
	if err != nil {
		s.storeErr(ctx, err, "retry lease")
	}
	for _, it := range due {
		if !send(it) {
			return
		}
	}
}

func (s *Service) storeErr(ctx context.Context, err error, what string) {
	if ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("fulfillment: " + what)
	}
}

// gauge refreshes the outbox depth and age metrics of the drops of the
// backlog a sweep polled (swept, as read before the poll), and notes which
// are quiet: nothing pending, nothing due. A full sweep releases from the
// backlog a drop with no work at all (no deadline or dead letter either)
// that nothing was added to for a while (verifier.Backlog.Release).
func (s *Service) gauge(ctx context.Context, swept []workDrop, full bool) {
	for _, d := range swept {
		if !full && s.isQuiet(d.ID) {
			continue // its depth is still 0
		}
		p, err := s.st.OutboxPending(ctx, outboxKey(d.ID), Group)
		if err != nil {
			return
		}
		n, err := s.st.Run(ctx, cardScript, []string{dueKey(d.ID)})
		if err != nil {
			return
		}
		waiting, _ := n.(int64)
		s.metrics.depth.WithLabelValues(d.ID).Set(float64(p.Count + waiting))
		s.metrics.oldest.WithLabelValues(d.ID).Set(p.OldestIdle.Seconds())
		s.hotMu.Lock()
		_, announced := s.dirty[d.ID]
		if p.Count+waiting == 0 && !announced {
			s.quiet[d.ID] = struct{}{}
		} else {
			delete(s.quiet, d.ID)
		}
		s.hotMu.Unlock()
		if !full || p.Count+waiting > 0 || announced || !s.backlog.Aged(d.entry) {
			continue
		}
		raw, err := s.st.Run(ctx, idleScript, []string{slaKey(d.ID), dlqKey(d.ID), dueKey(d.ID)})
		if err != nil {
			return
		}
		if left, _ := raw.(int64); left > 0 {
			continue
		}
		released, err := s.backlog.Release(ctx, d.entry)
		if err != nil {
			return
		}
		if released {
			s.metrics.depth.DeleteLabelValues(d.ID)
			s.metrics.oldest.DeleteLabelValues(d.ID)
			s.hotMu.Lock()
			delete(s.quiet, d.ID)
			s.hotMu.Unlock()
		}
	}
}

// isQuiet reports whether the last sweep found drop without work.
func (s *Service) isQuiet(drop string) bool {
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	_, ok := s.quiet[drop]
	return ok
}

// deliver attempts one entry and records the outcome.
func (s *Service) deliver(ctx context.Context, it item) {
	if it.rec == nil && it.deliveries > 1 {
		// Taken over: a dead replica may have moved it to the retry
		// due-set already, which then owns it.
		if _, err := s.st.HGet(ctx, retryKey(it.drop), it.event()); err == nil {
			s.ack(ctx, it)
			return
		}
	}
	if it.event() == "" || it.fields["claim"] == "" {
		s.log.Error().Str("drop", it.drop).Str("entry", it.entryID).Msg("outbox entry without event or claim id; dropped")
		s.ack(ctx, it)
		return
	}
	t := s.target(ctx, it.drop, it.fields)
	if t == nil {
		s.deadLetter(ctx, it, nil, "no_target", "no node or webhook configured for this entry")
		return
	}
	at, ok := s.release(ctx, it, t)
	if !ok {
		return // the entry stays pending: retried after the takeover time
	}
	if at.After(s.now()) {
		s.retry(ctx, it, t, at, false, pacedReason)
		return
	}
	if t.node != nil && t.node.Hosted() {
		s.deliverHosted(ctx, it, t)
		return
	}
	if t.node != nil && s.isDisabled(ctx, t.id) {
		s.metrics.deliveries.WithLabelValues(t.id, "gone").Inc()
		s.deadLetter(ctx, it, t, "node_gone", "node answered 410 Gone earlier")
		return
	}
	now := s.now()
	if ok, at := t.breaker.allow(now); !ok {
		s.metrics.deliveries.WithLabelValues(t.id, "breaker_open").Inc()
		s.retry(ctx, it, t, at, false, "breaker open")
		return
	}
	body, err := s.body(ctx, it)
	if errors.Is(err, ErrUnknownClaim) {
		// The claim expired or never existed: nothing to deliver.
		s.log.Warn().Str("drop", it.drop).Str("claim", it.fields["claim"]).Msg("outbox entry of an unknown claim; dropped")
		s.done(ctx, it)
		return
	}
	if err != nil {
		t.breaker.record(true, now) // not the node's fault
		s.retry(ctx, it, t, time.Time{}, false, err.Error())
		return
	}
	started := time.Now() // the monotonic clock, whatever s.now is
	status, hdr, answer, err := s.post(ctx, t, it.event(), body)
	if ctx.Err() != nil && err != nil {
		// Shutting down mid-request: leave the entry for the next attempt.
		t.breaker.record(true, now)
		return
	}
	a := attempted(it, t, now, status, err, time.Since(started))
	now = s.now()
	switch {
	case err == nil && status >= 200 && status < 300:
		t.breaker.record(true, now)
		s.metrics.deliveries.WithLabelValues(t.id, "ok").Inc()
		s.logAttempt(t, a)
		s.delivered(ctx, it, t, hdr, answer)
	case err == nil && status == http.StatusGone && t.node != nil:
		t.breaker.record(true, now)
		s.metrics.deliveries.WithLabelValues(t.id, "gone").Inc()
		a.scheduled(time.Time{}, true)
		s.logAttempt(t, a)
		if derr := s.setDisabled(ctx, t.id, true); derr != nil {
			s.log.Error().Err(derr).Str("node", t.id).Msg("could not store the node's disabled mark")
		}
		s.log.Error().Str("node", t.id).Msg("node answered 410 Gone: disabled; its claims go to compensation")
		s.deadLetter(ctx, it, t, "node_gone", "410 Gone")
	default:
		t.breaker.record(false, now)
		result, last := "error", ""
		if err != nil {
			last = err.Error()
		} else {
			result = "http_" + strconv.Itoa(status)
			last = "HTTP " + strconv.Itoa(status)
		}
		s.metrics.deliveries.WithLabelValues(t.id, result).Inc()
		var at time.Time
		if err == nil && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
			if d, ok := retryAfter(hdr, now); ok {
				at = now.Add(d)
			}
		}
		a.scheduled(s.retry(ctx, it, t, at, true, last))
		s.logAttempt(t, a)
	}
}

// post sends one signed attempt. It returns the first maxAnswer bytes of
// the answer's body (a compensation webhook's may hold text for the
// viewer) and reads no more than that.
func (s *Service) post(ctx context.Context, t *nodeTarget, id string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range t.signer.Headers(id, s.now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dropwire-fulfillment/1")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header, answer, nil
}

// ClaimPayload is the claim object of an outbound webhook.
type ClaimPayload struct {
	ID               string `json:"id"`
	Drop             string `json:"drop"`
	Node             string `json:"node"`
	SKU              string `json:"sku"`
	Tier             string `json:"tier,omitempty"`
	PickupCode       string `json:"pickup_code,omitempty"`
	PickupBy         string `json:"pickup_by,omitempty"`
	CreatedAt        string `json:"created_at"`
	State            string `json:"state,omitempty"`
	CompensationCode string `json:"compensation_code,omitempty"`
	// Sandbox is true for a claim of a test drop (the dashboard's Test
	// drop): the node should not hand anything out. Absent otherwise.
	Sandbox bool `json:"sandbox,omitempty"`
}

// Payload is the body of an outbound webhook: {"type", "claim", "receipt"}.
type Payload struct {
	Type    string       `json:"type"`
	Claim   ClaimPayload `json:"claim"`
	Receipt string       `json:"receipt,omitempty"`
}

func (s *Service) body(ctx context.Context, it item) ([]byte, error) {
	id := it.fields["claim"]
	h, err := s.st.HGetAll(ctx, claimKey(it.drop, id))
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, ErrUnknownClaim
	}
	msTime := func(f string) (time.Time, string) {
		n, err := strconv.ParseInt(h[f], 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, ""
		}
		t := time.UnixMilli(n).UTC()
		return t, t.Format(time.RFC3339)
	}
	pickupBy, pickupByS := msTime("pickup_by")
	created, createdS := msTime("created_at")
	p := Payload{Type: it.fields["type"], Claim: ClaimPayload{ID: id, Drop: it.drop, Node: h["node"], SKU: h["sku"],
		Tier: h["tier"], PickupCode: h["pickup_code"], PickupBy: pickupByS, CreatedAt: createdS}}
	if d, err := s.cfg.Drops.Drop(ctx, it.drop); err == nil && d.Sandbox {
		p.Claim.Sandbox = true
	}
	if p.Type == TypeClaimCompensated {
		p.Claim.State, p.Claim.CompensationCode = h["state"], h["compensation_code"]
		p.Claim.PickupCode = "" // the creator does not need it
	}
	if s.cfg.Receipts != nil && p.Type == TypeClaimCreated {
		tok, err := s.cfg.Receipts.Sign(ctx, &verifier.Claim{ID: id, Drop: it.drop, State: h["state"], Node: h["node"],
			SKU: h["sku"], Tier: h["tier"], PickupCode: h["pickup_code"], PickupBy: pickupBy, CreatedAt: created})
		if err != nil {
			return nil, fmt.Errorf("fulfillment: receipt: %w", err)
		}
		p.Receipt = tok
	}
	return json.Marshal(p)
}

// delivered records a 2xx: the claim moves on, the entry is done. A
// compensation webhook's answer may carry text for the viewer (see
// ViewerText), kept with the claim for its receipt.
func (s *Service) delivered(ctx context.Context, it item, t *nodeTarget, hdr http.Header, answer []byte) {
	claim := it.fields["claim"]
	var err error
	switch it.fields["type"] {
	case TypeClaimCreated:
		_, err = s.Apply(ctx, Transition{Drop: it.drop, Claim: claim, To: verifier.ClaimForwarded,
			PickupBy: s.pickupDeadline(ctx, t, it.drop, claim)})
	case TypeClaimCompensated:
		tr := Transition{Drop: it.drop, Claim: claim, To: verifier.ClaimCompensated}
		if text := ViewerText(hdr.Get("Content-Type"), answer); text != "" {
			tr.Fields = map[string]string{"compensation_text": text}
		}
		var o Outcome
		o, err = s.Apply(ctx, tr)
		if err == nil && o.Result == ResultApplied {
			s.metrics.compensations.WithLabelValues("webhook").Inc()
		}
	}
	var ill *IllegalTransitionError
	switch {
	case errors.As(err, &ill), errors.Is(err, ErrUnknownClaim):
		// Delivered after the claim moved on (a replay): nothing to change.
	case err != nil:
		// Keep the entry: the next attempt delivers again (same
		// webhook-id) and records the state then.
		s.log.Warn().Err(err).Str("claim", claim).Msg("delivered but the claim state was not stored; retrying")
		s.retry(ctx, it, t, s.now().Add(t.backoff.Base), false, err.Error())
		return
	}
	s.metrics.attempts.WithLabelValues(t.id).Observe(float64(it.attempts() + 1))
	s.done(ctx, it)
}

func (it *item) attempts() int {
	if it.rec != nil {
		return it.rec.Attempts
	}
	return 0
}

// first returns when the entry was created (ms): the start of its retry
// horizon.
func (it *item) first() int64 {
	if it.rec != nil && it.rec.First > 0 {
		return it.rec.First
	}
	ms, _, _ := strings.Cut(it.entryID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// retry schedules the next attempt: at at if set, else after the node's
// backoff. counted says whether this was a real attempt. Past the
// horizon, the entry is dead-lettered instead. It returns when the next
// attempt is due, or dead for a dead letter (neither: not stored).
func (s *Service) retry(ctx context.Context, it item, t *nodeTarget, at time.Time, counted bool, last string) (next time.Time, dead bool) {
	now := s.now()
	rec := retryRecord{Fields: it.fields, First: it.first(), Last: last}
	if rec.First == 0 {
		rec.First = now.UnixMilli()
	}
	if last == pacedReason {
		// A queued claim's retry horizon starts at its release.
		rec.First = max(rec.First, at.UnixMilli())
	}
	rec.Attempts = it.attempts()
	if counted {
		rec.Attempts++
	}
	if at.IsZero() {
		at = now.Add(t.backoff.Delay(max(rec.Attempts, 1)))
	}
	if at.Sub(time.UnixMilli(rec.First)) > t.backoff.Horizon {
		s.deadLetter(ctx, item{drop: it.drop, entryID: it.entryID, fields: it.fields, rec: &rec}, t, "horizon",
			"no success within "+t.backoff.Horizon.String()+"; last: "+last)
		return time.Time{}, true
	}
	b, _ := json.Marshal(rec)
	if err := s.backlog.Touch(ctx, it.drop); err != nil {
		s.storeErr(ctx, err, "schedule retry")
		return time.Time{}, false
	}
	if _, err := s.st.Run(ctx, scheduleScript, []string{dueKey(it.drop), retryKey(it.drop)},
		it.event(), at.UnixMilli(), string(b)); err != nil {
		// The stream entry stays pending (or the lease runs out): another
		// attempt comes after the takeover time.
		s.storeErr(ctx, err, "schedule retry")
		return time.Time{}, false
	}
	if it.entryID != "" {
		s.ackStream(ctx, it)
	}
	s.log.Debug().Str("event", it.event()).Int("attempts", rec.Attempts).Time("next", at).Str("last", last).Msg("delivery retry scheduled")
	return at, false
}

// done removes a finished entry from the retry set and the stream.
func (s *Service) done(ctx context.Context, it item) {
	if it.rec != nil || it.deliveries > 1 {
		if _, err := s.st.Run(ctx, doneScript, []string{dueKey(it.drop), retryKey(it.drop)}, it.event()); err != nil {
			s.storeErr(ctx, err, "retry done")
			return
		}
	}
	s.ack(ctx, it)
}

func (s *Service) ack(ctx context.Context, it item) {
	if it.entryID != "" {
		s.ackStream(ctx, it)
	}
}

func (s *Service) ackStream(ctx context.Context, it item) {
	if err := s.st.OutboxAck(ctx, outboxKey(it.drop), Group, it.entryID); err != nil {
		s.storeErr(ctx, err, "outbox ack")
	}
}

// leaseDue takes the drop's due retries for Takeover: another replica gets
// them back only if this one dies before it records their outcome.
func (s *Service) leaseDue(ctx context.Context, drop string) ([]item, error) {
	now := s.now()
	raw, err := s.st.Run(ctx, leaseScript, []string{dueKey(drop), retryKey(drop)},
		now.UnixMilli(), now.Add(s.cfg.Takeover).UnixMilli(), DefaultBatch)
	if err != nil {
		return nil, err
	}
	flat, _ := raw.([]any)
	out := make([]item, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		ev, _ := flat[i].(string)
		js, _ := flat[i+1].(string)
		var rec retryRecord
		if err := json.Unmarshal([]byte(js), &rec); err != nil || rec.Fields == nil {
			s.log.Error().Str("drop", drop).Str("event", ev).Msg("unreadable retry record; removed")
			_, _ = s.st.Run(ctx, doneScript, []string{dueKey(drop), retryKey(drop)}, ev)
			continue
		}
		out = append(out, item{drop: drop, fields: rec.Fields, rec: &rec})
	}
	return out, nil
}

// Retry scripts. KEYS: 1 due-set, 2 retry records.

// scheduleScript: ARGV event, next attempt ms, record.
var scheduleScript = store.NewScript("fwd-schedule", `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	at, _ := strconv.ParseFloat(argv[1], 64)
	tx.ZAdd(keys[0], at, argv[0])
	tx.HSet(keys[1], argv[0], argv[2])
	return int64(1), nil
})

// doneScript: ARGV event.
var doneScript = store.NewScript("fwd-done", `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`, func(tx store.Tx, keys, argv []string) (any, error) {
	tx.ZRem(keys[0], argv[0])
	tx.HDel(keys[1], argv[0])
	return int64(1), nil
})

// leaseScript: ARGV now ms, lease end ms, limit. Returns {event, record, ...}
// of the due entries, each now leased until the lease end.
var leaseScript = store.NewScript("fwd-lease", `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
`, func(tx store.Tx, keys, argv []string) (any, error) {
	now, _ := strconv.ParseFloat(argv[0], 64)
	until, _ := strconv.ParseFloat(argv[1], 64)
	limit, _ := strconv.Atoi(argv[2])
	out := []any{}
	for _, id := range tx.ZRangeByScore(keys[0], -1e300, now, limit) {
		tx.ZAdd(keys[0], until, id)
		rec, _ := tx.HGet(keys[1], id)
		out = append(out, id, rec)
	}
	return out, nil
})

// cardScript returns the size of a sorted set.
var cardScript = store.NewScript("zcard", `return redis.call('ZCARD', KEYS[1])`,
	func(tx store.Tx, keys, _ []string) (any, error) { return tx.ZCard(keys[0]), nil })
