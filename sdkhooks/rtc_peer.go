package sdkhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dropwire/dropwire/verifier"
)

// StatusRejected is the ack status of a message that had no effect.
const StatusRejected = "rejected"

// Ack answers one data-channel message, on the same channel.
type Ack struct {
	// Ack is the event id of the message ("" when it could not be read).
	Ack string `json:"ack"`
	// Status is "accepted", "duplicate" or "rejected".
	Status string `json:"status"`
	// Reason is the problem code of a rejection: malformed_event,
	// payload_too_large, rate_limited, unknown_drop, forbidden_drop,
	// store_unavailable.
	Reason string `json:"reason,omitempty"`
	// Detail explains a rejection to a human.
	Detail string `json:"detail,omitempty"`
	// RetryAfterMS says when a rate-limited source may send again.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// Moment is what an accepted event did to its moment.
	Moment *verifier.Moment `json:"moment,omitempty"`
}

// rtcPeer is one data-channel session. Its goroutine (run) is its owner:
// it handles the messages in order, and it alone closes the
// PeerConnection. Everything else asks it to stop through close.
type rtcPeer struct {
	s   *RTC
	id  string
	src *rtcSource
	exp time.Time // token expiry

	pc     *webrtc.PeerConnection // set once before run starts
	events atomic.Pointer[webrtc.DataChannel]

	lastMsg atomic.Int64  // unix ns of the last message, for the idle timeout
	stop    chan struct{} // closed by close
	done    chan struct{} // closed when run has closed the PeerConnection

	stopOnce sync.Once
	reason   string // why it stopped; written once, before stop closes
}

type rtcMessage struct {
	data []byte
	at   time.Time
	dc   *webrtc.DataChannel
}

func newPeer(s *RTC, id string, src *rtcSource, exp time.Time) *rtcPeer {
	return &rtcPeer{
		s: s, id: id, src: src, exp: exp,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// close asks the peer's goroutine to stop; safe from any goroutine and
// from pion's callbacks, any number of times.
func (p *rtcPeer) close(reason string) {
	p.stopOnce.Do(func() {
		p.reason = reason
		close(p.stop)
	})
}

// connect creates the PeerConnection and answers the offer, waiting for
// ICE gathering (non-trickle). It starts the peer's goroutine as soon as
// the PeerConnection exists; on error the peer is closed and gone when it
// returns.
func (p *rtcPeer) connect(ctx context.Context, offer string) (string, error) {
	pc, err := p.s.api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{p.s.cert}})
	if err != nil {
		p.s.release(p)
		return "", fmt.Errorf("sdkhooks: new peer connection: %w", err)
	}
	p.s.created.Add(1)
	p.pc = pc
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			p.close("ice failed")
		case webrtc.PeerConnectionStateClosed:
			p.close("closed")
		}
	})
	pc.OnDataChannel(p.onDataChannel)
	go p.run()

	fail := func(err error) (string, error) {
		p.close("offer failed")
		<-p.done
		return "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: no answer to this offer: %v", ErrBadSDP, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("sdkhooks: set local description: %w", err))
	}
	timer := time.NewTimer(p.s.cfg.GatherTimeout)
	defer timer.Stop()
	select {
	case <-gathered:
	case <-timer.C:
		p.s.log.Warn().Str("source", p.src.cfg.ID).Msg("ICE gathering timed out; answering with the candidates so far")
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-p.stop:
		return fail(ErrRTCClosed)
	}
	return pc.LocalDescription().SDP, nil
}

// onDataChannel accepts the one events channel of the peer: labelled
// RTCLabel, ordered and reliable. Anything else is closed.
func (p *rtcPeer) onDataChannel(dc *webrtc.DataChannel) {
	reliable := dc.Ordered() && dc.MaxRetransmits() == nil && dc.MaxPacketLifeTime() == nil
	if dc.Label() != RTCLabel || !reliable || !p.events.CompareAndSwap(nil, dc) {
		p.s.log.Debug().Str("source", p.src.cfg.ID).Str("label", dc.Label()).Bool("reliable", reliable).
			Msg("data channel refused: want one ordered, reliable " + RTCLabel)
		_ = dc.Close()
		return
	}
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		// Handled here, on pion's reader of this channel: in order, with
		// no hand-off to wait for, and while it runs pion reads no
		// further, so SCTP flow control pushes back on a sender faster
		// than the store.
		select {
		case <-p.stop:
			return
		default:
		}
		now := time.Now()
		p.lastMsg.Store(now.UnixNano())
		p.handle(rtcMessage{data: m.Data, at: now, dc: dc})
	})
	dc.OnClose(func() { p.close("channel closed") })
}

// run is the peer's goroutine: it waits until the peer is closed, goes
// idle (no message for IdleTimeout; messages are handled as they arrive,
// in onDataChannel), or its token expires; then it closes the
// PeerConnection and unregisters the peer.
func (p *rtcPeer) run() {
	idle := time.NewTimer(p.s.cfg.IdleTimeout)
	var expired <-chan time.Time
	if p.s.cfg.CloseOnTokenExpiry && !p.exp.IsZero() {
		t := time.NewTimer(time.Until(p.exp))
		defer t.Stop()
		expired = t.C
	}
	defer func() {
		idle.Stop()
		// close before GracefulClose: a callback blocked in OnMessage
		// must see stop, or GracefulClose would wait for it forever.
		p.close("") // no-op when a reason was set
		if err := p.pc.GracefulClose(); err != nil {
			p.s.log.Debug().Err(err).Str("session", p.id).Msg("peer close")
		}
		p.s.release(p)
		p.s.log.Info().Str("source", p.src.cfg.ID).Str("session", p.id).Str("reason", p.reason).Msg("data-channel peer closed")
		close(p.done)
	}()
	for {
		select {
		case <-p.stop:
			return
		case <-idle.C:
			if last := time.Unix(0, p.lastMsg.Load()); time.Since(last) < p.s.cfg.IdleTimeout {
				idle.Reset(p.s.cfg.IdleTimeout - time.Since(last))
				continue
			}
			p.close("idle")
			return
		case <-expired:
			p.close("token expired")
			return
		}
	}
}

// ping is the keepalive message; it is answered with pong and ingests
// nothing.
var (
	pingType = []byte(`"ping"`)
	pong     = `{"type":"pong"}`
)

// handle ingests one message and sends its ack.
func (p *rtcPeer) handle(m rtcMessage) {
	if len(m.data) < 64 && bytes.Contains(m.data, pingType) {
		var k struct{ Type string }
		if json.Unmarshal(m.data, &k) == nil && k.Type == "ping" {
			_ = m.dc.SendText(pong)
			return
		}
	}
	ack := p.ingest(m)
	ingested := time.Now()
	b, err := json.Marshal(ack)
	if err != nil {
		b = []byte(`{"ack":"","status":"rejected","reason":"internal"}`)
	}
	if err := m.dc.SendText(string(b)); err != nil {
		p.s.log.Debug().Err(err).Str("session", p.id).Msg("ack not sent")
	}
	sent := time.Now()
	if p.s.acked != nil {
		p.s.acked(ack, m.at, ingested, sent)
	}
	p.s.metrics.ack.Observe(sent.Sub(m.at).Seconds())
	p.s.metrics.messages.WithLabelValues(ack.Status, ack.Reason).Inc()
}

// ingest turns one message into an Ack. A bad message is rejected with a
// reason; nothing here closes the peer.
func (p *rtcPeer) ingest(m rtcMessage) Ack {
	received := p.s.cfg.Now()
	if len(m.data) > MaxRTCMessage {
		err := fmt.Errorf("%w: message of %d bytes is over the %d byte limit", ErrPayloadTooLarge, len(m.data), MaxRTCMessage)
		return p.reject(peekID(m.data), err)
	}
	env, err := DecodeEnvelope(m.data, "")
	if err != nil {
		return p.reject(peekID(m.data), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ingestTimeout)
	defer cancel()
	res, err := p.s.ingest.Ingest(ctx, p.src.src, verifier.Event{
		Source:     p.src.cfg.ID,
		Channel:    verifier.ChannelDataChannel,
		ID:         env.ID,
		Type:       env.Type,
		Drop:       env.Drop,
		Moment:     env.Moment,
		OccurredAt: env.OccurredAt,
		Data:       env.Data,
		ReceivedAt: received,
	})
	if err != nil {
		return p.reject(env.ID, err)
	}
	return Ack{Ack: env.ID, Status: res.Status, Moment: res.Moment}
}

func (p *rtcPeer) reject(id string, err error) Ack {
	pr := Problem(err)
	if pr.Code != "rate_limited" && pr.Code != "store_unavailable" {
		p.s.ingest.Reject(p.src.cfg.ID, pr.Code)
	}
	if pr.Status >= 500 {
		p.s.log.Warn().Err(err).Str("source", p.src.cfg.ID).Msg("data-channel event not stored")
	}
	ack := Ack{Ack: id, Status: StatusRejected, Reason: pr.Code, Detail: pr.Detail}
	if pr.RetryAfter > 0 {
		ack.RetryAfterMS = pr.RetryAfter.Milliseconds()
	}
	return ack
}

// peekID returns the id of a message that could not be decoded as an
// envelope, when it has a usable one, so the sender can match the ack.
func peekID(data []byte) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	id, _ := v.ID.(string)
	if checkID("id", id) != nil {
		return ""
	}
	return id
}
