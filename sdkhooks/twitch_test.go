package sdkhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/config"
)

const (
	twitchSecret = "s3cRe7-twitch-eventsub"
	twitchMsgID  = "e76c6bd4-55c9-4987-8304-da1588d8988b"
	twitchTS     = "2026-05-01T12:00:00.123456789Z"
	rewardSub    = "channel.channel_points_custom_reward_redemption.add"
)

var twitchTime, _ = time.Parse(time.RFC3339Nano, twitchTS)

// Bodies shaped like Twitch's documented examples
// (dev.twitch.tv/docs/eventsub/handling-webhook-events).
var (
	twitchNotificationBody = []byte(`{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"` + rewardSub + `","version":"1","condition":{"broadcaster_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z","cost":0},"event":{"id":"17fa2df1-ad76-4804-bfa5-a40ef63efe63","broadcaster_user_id":"1337","user_login":"cool_user","user_input":"","status":"unfulfilled","reward":{"id":"92af127c-7326-4483-a52b-b0da0be61c01","title":"Sticker drop","cost":100,"prompt":"reward prompt"},"redeemed_at":"2020-07-15T17:16:03.17106713Z"}}`)
	twitchChallengeBody    = []byte(`{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"` + rewardSub + `","version":"1","condition":{"broadcaster_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z","cost":0}}`)
	twitchRevocationBody   = []byte(`{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"` + rewardSub + `","version":"1","condition":{"broadcaster_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z","cost":0}}`)
)

func twitchSign(secret, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id + ts))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func twitchHeader(typ, id, ts, sig string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		HeaderTwitchMessageID:        id,
		HeaderTwitchMessageTimestamp: ts,
		HeaderTwitchMessageSignature: sig,
		HeaderTwitchMessageType:      typ,
		HeaderTwitchSubscriptionType: rewardSub,
	} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return h
}

func newTwitchT(t testing.TB, src config.Source) *Twitch {
	t.Helper()
	v, err := NewTwitch(src)
	if err != nil {
		t.Fatalf("NewTwitch: %v", err)
	}
	return v
}

func TestTwitchVerify(t *testing.T) {
	src := config.Source{Secrets: []string{twitchSecret}}
	sig := func(body []byte) string { return twitchSign(twitchSecret, twitchMsgID, twitchTS, body) }
	note := func(h http.Header) http.Header { return h }
	tol := DefaultTwitchTolerance

	tests := []struct {
		name          string
		src           config.Source
		h             http.Header
		body          []byte
		now           time.Time
		want          error
		wantKind      string
		wantChallenge string
	}{
		{name: "valid notification", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, wantKind: KindNotification},
		{name: "challenge returned", h: twitchHeader("webhook_callback_verification", twitchMsgID, twitchTS, sig(twitchChallengeBody)), body: twitchChallengeBody, wantKind: KindChallenge, wantChallenge: "pogchamp-kappa-360noscope-vohiyo"},
		{name: "revocation", h: twitchHeader("revocation", twitchMsgID, twitchTS, sig(twitchRevocationBody)), body: twitchRevocationBody, wantKind: KindRevocation},
		{name: "rotated secret", src: config.Source{Secrets: []string{"newer-secret", twitchSecret}}, h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, wantKind: KindNotification},
		{name: "timestamp without fraction", h: twitchHeader("notification", twitchMsgID, "2026-05-01T12:00:00Z", twitchSign(twitchSecret, twitchMsgID, "2026-05-01T12:00:00Z", twitchNotificationBody)), body: twitchNotificationBody, wantKind: KindNotification},
		{name: "stale 11 min", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, now: twitchTime.Add(11 * time.Minute), want: ErrStaleTimestamp},
		{name: "future 11 min", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, now: twitchTime.Add(-11 * time.Minute), want: ErrStaleTimestamp},
		{name: "old by tolerance - 1s", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, now: twitchTime.Add(tol - time.Second), wantKind: KindNotification},
		{name: "old by tolerance + 1s", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, now: twitchTime.Add(tol + time.Second), want: ErrStaleTimestamp},
		{name: "future by tolerance - 1s", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, now: twitchTime.Add(-tol + time.Second), wantKind: KindNotification},
		{name: "wrong secret", src: config.Source{Secrets: []string{"not-the-secret"}}, h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "tampered body", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: []byte(strings.Replace(string(twitchNotificationBody), "Sticker drop", "Sticker drip", 1)), want: ErrBadSignature},
		{name: "tampered id", h: twitchHeader("notification", twitchMsgID+"0", twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "tampered timestamp", h: twitchHeader("notification", twitchMsgID, "2026-05-01T12:00:01.123456789Z", sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "bad hex", h: twitchHeader("notification", twitchMsgID, twitchTS, "sha256="+strings.Repeat("zz", 32)), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "upper-case hex", h: twitchHeader("notification", twitchMsgID, twitchTS, "sha256="+strings.ToUpper(sig(twitchNotificationBody)[7:])), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "truncated hex", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)[:70]), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "sha256= prefix missing", h: twitchHeader("notification", twitchMsgID, twitchTS, sig(twitchNotificationBody)[7:]), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "other prefix", h: twitchHeader("notification", twitchMsgID, twitchTS, "sha512="+sig(twitchNotificationBody)[7:]), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "bare sha256=", h: twitchHeader("notification", twitchMsgID, twitchTS, "sha256="), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "missing signature", h: twitchHeader("notification", twitchMsgID, twitchTS, ""), body: twitchNotificationBody, want: ErrMissingSignature},
		{name: "missing message id", h: twitchHeader("notification", "", twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrMissingSignature},
		{name: "missing timestamp", h: twitchHeader("notification", twitchMsgID, "", sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrMissingSignature},
		{name: "missing message type", h: twitchHeader("", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrMissingSignature},
		{name: "timestamp not RFC 3339", h: twitchHeader("notification", twitchMsgID, "1714564800", twitchSign(twitchSecret, twitchMsgID, "1714564800", twitchNotificationBody)), body: twitchNotificationBody, want: ErrBadSignature},
		{name: "unknown message type", h: twitchHeader("something_else", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrMalformedEvent},
		{name: "challenge type on a body without challenge", h: twitchHeader("webhook_callback_verification", twitchMsgID, twitchTS, sig(twitchNotificationBody)), body: twitchNotificationBody, want: ErrMalformedEvent},
		{name: "signed body not JSON", h: twitchHeader("notification", twitchMsgID, twitchTS, sig([]byte("not json"))), body: []byte("not json"), want: ErrMalformedEvent},
		{name: "lower-case header map", h: note(http.Header{
			"twitch-eventsub-message-id":        {twitchMsgID},
			"twitch-eventsub-message-timestamp": {twitchTS},
			"twitch-eventsub-message-signature": {sig(twitchNotificationBody)},
			"twitch-eventsub-message-type":      {"notification"},
		}), body: twitchNotificationBody, wantKind: KindNotification},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.src
			if s.Secrets == nil {
				s = src
			}
			v := newTwitchT(t, s)
			now := tc.now
			if now.IsZero() {
				now = twitchTime
			}
			got, err := v.Verify(tc.h, tc.body, now)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Kind != tc.wantKind || got.Challenge != tc.wantChallenge || got.EventID != twitchMsgID || got.Subscription != rewardSub {
				t.Errorf("Verified = %+v", got)
			}
			if !strings.HasPrefix(tc.name, "timestamp") && !got.Timestamp.Equal(twitchTime) {
				t.Errorf("Timestamp = %v, want %v", got.Timestamp, twitchTime)
			}
		})
	}
}

func TestNewTwitchErrors(t *testing.T) {
	for _, src := range []config.Source{
		{},
		{Secrets: []string{""}},
		{Secrets: []string{twitchSecret}, Tolerance: config.Duration(-time.Minute)},
	} {
		if _, err := NewTwitch(src); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("NewTwitch(%+v) err = %v, want ErrInvalidKey", src.Tolerance, err)
		}
	}
}

func TestTwitchTrigger(t *testing.T) {
	v := newTwitchT(t, config.Source{Secrets: []string{twitchSecret}})
	sticker := config.Trigger{Subscription: rewardSub, Match: map[string]string{"reward.title": "Sticker drop"}, Drop: "sticker-spring"}
	tests := []struct {
		name     string
		body     []byte
		triggers []config.Trigger
		want     string
		wantOK   bool
		wantErr  error
	}{
		{name: "title matches", body: twitchNotificationBody, triggers: []config.Trigger{sticker}, want: "sticker-spring", wantOK: true},
		{name: "title differs", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "Hydrate"}, Drop: "water"}}},
		{name: "title case differs", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "sticker drop"}, Drop: "x"}}},
		{name: "other subscription", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: "channel.follow", Match: map[string]string{"reward.title": "Sticker drop"}, Drop: "x"}}},
		{name: "all matches must hold", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "Sticker drop", "user_login": "someone_else"}, Drop: "x"}}},
		{name: "several matches hold", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "Sticker drop", "user_login": "cool_user"}, Drop: "both"}}, want: "both", wantOK: true},
		{name: "number compared by spelling", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.cost": "100"}, Drop: "cost"}}, want: "cost", wantOK: true},
		{name: "missing path", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.missing": "x"}, Drop: "x"}}},
		{name: "path through a string", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"user_login.x": "cool_user"}, Drop: "x"}}},
		{name: "path to an object", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward": "x"}, Drop: "x"}}},
		{name: "first matching trigger wins", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "nope"}, Drop: "a"}, sticker, {Subscription: rewardSub, Drop: "c"}}, want: "sticker-spring", wantOK: true},
		{name: "no match entries: any event of the type", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub, Drop: "any"}}, want: "any", wantOK: true},
		{name: "trigger without drop skipped", body: twitchNotificationBody, triggers: []config.Trigger{{Subscription: rewardSub}}},
		{name: "no triggers", body: twitchNotificationBody},
		{name: "not JSON", body: []byte("{"), triggers: []config.Trigger{sticker}, wantErr: ErrMalformedEvent},
		{name: "trailing data", body: append(append([]byte{}, twitchNotificationBody...), []byte(` {}`)...), triggers: []config.Trigger{sticker}, wantErr: ErrMalformedEvent},
		{name: "missing subscription type", body: []byte(`{"event":{"reward":{"title":"Sticker drop"}}}`), triggers: []config.Trigger{sticker}, wantErr: ErrMalformedEvent},
		{name: "event not an object", body: []byte(`{"subscription":{"type":"` + rewardSub + `"},"event":[1]}`), triggers: []config.Trigger{sticker}, wantErr: ErrMalformedEvent},
		{name: "no event", body: twitchRevocationBody, triggers: []config.Trigger{sticker}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			drop, ok, err := v.Trigger(tc.body, tc.triggers)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || drop != tc.want || ok != tc.wantOK {
				t.Errorf("Trigger = %q, %v, %v; want %q, %v", drop, ok, err, tc.want, tc.wantOK)
			}
		})
	}
}
