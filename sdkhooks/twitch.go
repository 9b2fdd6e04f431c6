package sdkhooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

// Twitch EventSub webhook transport headers.
const (
	HeaderTwitchMessageID        = "Twitch-Eventsub-Message-Id"
	HeaderTwitchMessageTimestamp = "Twitch-Eventsub-Message-Timestamp"
	HeaderTwitchMessageSignature = "Twitch-Eventsub-Message-Signature"
	HeaderTwitchMessageType      = "Twitch-Eventsub-Message-Type"
	HeaderTwitchSubscriptionType = "Twitch-Eventsub-Subscription-Type"
)

// Twitch message types (Twitch-Eventsub-Message-Type).
const (
	twitchNotification = "notification"
	twitchVerification = "webhook_callback_verification"
	twitchRevocation   = "revocation"
)

// DefaultTwitchTolerance is Twitch's documented freshness window.
const DefaultTwitchTolerance = 10 * time.Minute

// Twitch verifies the Twitch EventSub webhook transport: HMAC-SHA256 with
// the source's secret over message id + timestamp + raw body, sent as
// "sha256=<lower-case hex>".
//
// The message type header is not covered by Twitch's signature; the body
// that decides what happens is, and a challenge is only answered with the
// value from the signed body.
type Twitch struct {
	macs      []*macKey
	tolerance time.Duration
}

var _ Verifier = (*Twitch)(nil)

// NewTwitch builds a Twitch verifier from src.Secrets (the raw shared
// secrets, newest first) and src.Tolerance (default 10 min).
func NewTwitch(src config.Source) (*Twitch, error) {
	tol, err := tolerance(src, DefaultTwitchTolerance)
	if err != nil {
		return nil, err
	}
	t := &Twitch{tolerance: tol}
	for i, secret := range src.Secrets {
		if secret == "" {
			return nil, fmt.Errorf("%w: source %q: secrets[%d] is empty", ErrInvalidKey, src.ID, i)
		}
		t.macs = append(t.macs, newMACKey([]byte(secret)))
	}
	if len(t.macs) == 0 {
		return nil, fmt.Errorf("%w: source %q has no secrets", ErrInvalidKey, src.ID)
	}
	return t, nil
}

// Verify implements Verifier. A verified notification has Kind
// KindNotification and EventID = the message id; a
// webhook_callback_verification has Kind KindChallenge and the challenge
// to echo; a revocation has Kind KindRevocation.
func (t *Twitch) Verify(h http.Header, body []byte, now time.Time) (Verified, error) {
	id := headerValue(h, HeaderTwitchMessageID, "twitch-eventsub-message-id")
	ts := headerValue(h, HeaderTwitchMessageTimestamp, "twitch-eventsub-message-timestamp")
	sig := headerValue(h, HeaderTwitchMessageSignature, "twitch-eventsub-message-signature")
	typ := headerValue(h, HeaderTwitchMessageType, "twitch-eventsub-message-type")
	switch {
	case sig == "":
		return Verified{}, errMissingHeader("Twitch-Eventsub-Message-Signature")
	case id == "":
		return Verified{}, errMissingHeader("Twitch-Eventsub-Message-Id")
	case ts == "":
		return Verified{}, errMissingHeader("Twitch-Eventsub-Message-Timestamp")
	case typ == "":
		return Verified{}, errMissingHeader("Twitch-Eventsub-Message-Type")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return Verified{}, fmt.Errorf("%w: signature must be sha256=<hex>", ErrBadSignature)
	}
	if !t.match(id, ts, body, hexSig) {
		return Verified{}, fmt.Errorf("%w: signature does not match", ErrBadSignature)
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: header %q is not RFC 3339", ErrBadSignature, "Twitch-Eventsub-Message-Timestamp")
	}
	if !fresh(at, now, t.tolerance) {
		return Verified{}, fmt.Errorf("%w: message timestamp is more than %s from the server clock", ErrStaleTimestamp, t.tolerance)
	}
	if err := checkID("Twitch-Eventsub-Message-Id", id); err != nil {
		return Verified{}, err
	}

	v := Verified{EventID: id, Timestamp: at}
	switch typ {
	case twitchNotification:
		v.Kind = KindNotification
	case twitchVerification:
		v.Kind = KindChallenge
	case twitchRevocation:
		v.Kind = KindRevocation
	default:
		return Verified{}, fmt.Errorf("%w: unknown Twitch-Eventsub-Message-Type", ErrMalformedEvent)
	}

	// Only now, with the body verified, is it parsed.
	var msg struct {
		Challenge    *string `json:"challenge"`
		Subscription struct {
			Type string `json:"type"`
		} `json:"subscription"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return Verified{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformedEvent)
	}
	v.Subscription = msg.Subscription.Type
	if v.Subscription == "" {
		v.Subscription = headerValue(h, HeaderTwitchSubscriptionType, "twitch-eventsub-subscription-type")
	}
	if v.Kind == KindChallenge {
		if msg.Challenge == nil || *msg.Challenge == "" {
			return Verified{}, fmt.Errorf("%w: field \"challenge\" is required", ErrMalformedEvent)
		}
		v.Challenge = *msg.Challenge
	}
	return v, nil
}

// match compares sig (the hex after "sha256=") with the HMAC of every
// secret. Only lower-case hex, as Twitch sends it, is accepted: one
// spelling per signature.
func (t *Twitch) match(id, ts string, body []byte, sig string) bool {
	if len(sig) != 2*sha256.Size {
		return false
	}
	for _, k := range t.macs {
		st := k.get()
		st.h.Reset()
		st.prefix = append(st.prefix[:0], id...)
		st.prefix = append(st.prefix, ts...)
		st.h.Write(st.prefix)
		st.h.Write(body)
		st.h.Sum(st.sum[:0])
		hex.Encode(st.hex[:], st.sum[:])
		copy(st.cmpHex[:], sig)
		ok := hmac.Equal(st.cmpHex[:], st.hex[:])
		k.put(st)
		if ok {
			return true
		}
	}
	return false
}

// Trigger maps a verified notification body to a drop: the Drop of the first
// trigger whose Subscription equals the notification's subscription.type and
// whose every Match entry (a dotted path into the event object, e.g.
// "reward.title") equals the value there. Strings compare exactly; numbers
// and booleans compare by their JSON spelling. ok is false when no trigger
// matches; err wraps ErrMalformedEvent when the body is not a notification.
func (t *Twitch) Trigger(body []byte, triggers []config.Trigger) (drop string, ok bool, err error) {
	var n struct {
		Subscription struct {
			Type string `json:"type"`
		} `json:"subscription"`
		Event map[string]any `json:"event"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", false, fmt.Errorf("%w: body is not a notification object", ErrMalformedEvent)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", false, fmt.Errorf("%w: data after the notification object", ErrMalformedEvent)
	}
	if n.Subscription.Type == "" {
		return "", false, fmt.Errorf("%w: field \"subscription.type\" is required", ErrMalformedEvent)
	}
	for _, tr := range triggers {
		if tr.Subscription != n.Subscription.Type || tr.Drop == "" {
			continue
		}
		if matchEvent(n.Event, tr.Match) {
			return tr.Drop, true, nil
		}
	}
	return "", false, nil
}

func matchEvent(event map[string]any, match map[string]string) bool {
	for path, want := range match {
		got, ok := lookupPath(event, path)
		if !ok || got != want {
			return false
		}
	}
	return true
}

// lookupPath follows a dotted path through nested objects and returns the
// leaf as text when it is a string, number or boolean.
func lookupPath(obj map[string]any, path string) (string, bool) {
	for {
		key, rest, more := strings.Cut(path, ".")
		v, ok := obj[key]
		if !ok {
			return "", false
		}
		if more {
			if obj, ok = v.(map[string]any); !ok {
				return "", false
			}
			path = rest
			continue
		}
		switch v := v.(type) {
		case string:
			return v, true
		case json.Number:
			return v.String(), true
		case bool:
			if v {
				return "true", true
			}
			return "false", true
		default:
			return "", false
		}
	}
}
