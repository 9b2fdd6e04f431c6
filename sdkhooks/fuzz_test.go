package sdkhooks

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/stdwebhooks"
)

// wireCode reports whether err maps to a code the HTTP contract knows:
// Verify and DecodeEnvelope never return an internal error.
func wireCode(err error) bool {
	switch Code(err) {
	case CodeMissingSignature, CodeBadSignature, CodeStaleTimestamp, CodeMalformedEvent:
		return true
	}
	return false
}

// firstEntries returns the first stdwebhooks.MaxSignatureEntries space-separated
// entries of a signature list, as the verifier considers them.
func firstEntries(list string) []string {
	var out []string
	for _, e := range strings.Split(list, " ") {
		if e == "" {
			continue
		}
		out = append(out, e)
	}
	if len(out) > stdwebhooks.MaxSignatureEntries {
		out = out[:stdwebhooks.MaxSignatureEntries]
	}
	return out
}

func FuzzStandardVerify(f *testing.F) {
	ts := strconv.Itoa(refTS)
	f.Add(refMsgID, ts, refSig, []byte(refPayload), int64(0))
	f.Add(refMsgID, ts, refEdSig, []byte(refPayload), int64(0))
	f.Add(refMsgID, ts, refSig+" "+refEdSig, []byte(refPayload), int64(299))
	f.Add(refMsgID, ts, refSig, []byte(refPayload), int64(-301))
	f.Add(refMsgID, "1614265330.0", refSig, []byte(refPayload), int64(0))
	f.Add(refMsgID, "01614265330", refSig, []byte(refPayload), int64(0))
	f.Add("", ts, refSig, []byte(refPayload), int64(0))
	f.Add(refMsgID, ts, "v1,", []byte(`{"test": 2432232315}`), int64(0))
	f.Add(refMsgID, ts, "v1a,"+strings.Repeat("A", 88), []byte(refPayload), int64(0))

	priv := refEdKey(f)
	signer, err := NewSigner(refSecret)
	if err != nil {
		f.Fatal(err)
	}
	v := newStandardT(f, config.Source{Secrets: []string{refSecret}, PublicKeys: []string{EncodePublicKey(priv.Public().(ed25519.PublicKey))}})

	f.Fuzz(func(t *testing.T, id, ts, list string, body []byte, offset int64) {
		now := refTime.Add(time.Duration(offset%100_000) * time.Second)
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {list}}
		got, err := v.Verify(h, body, now)
		if err != nil {
			if !wireCode(err) {
				t.Fatalf("error without a wire code: %v", err)
			}
			if got != (Verified{}) {
				t.Fatalf("rejected Verify returned %+v", got)
			}
			return
		}
		// Success needs the one correct signature of this exact content.
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || strconv.FormatInt(unix, 10) != ts {
			t.Fatalf("accepted non-canonical timestamp %q", ts)
		}
		at := time.Unix(unix, 0)
		wantV1 := signer.Sign(id, at, body)
		wantV1a := SignEd25519(priv, id, at, body)
		found := false
		for _, e := range firstEntries(list) {
			if e == wantV1 || e == wantV1a {
				found = true
			}
		}
		if !found {
			t.Fatalf("accepted %q for id %q ts %q body %q without its signature", list, id, ts, body)
		}
		if got.EventID != id || !got.Timestamp.Equal(at) || !fresh(at, now, DefaultStandardTolerance) || checkID("id", id) != nil {
			t.Fatalf("Verified = %+v", got)
		}
	})
}

func FuzzJWTVerify(f *testing.F) {
	ec := mustEC(f)
	_, ed, _ := ed25519.GenerateKey(nil)
	file := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwksJSON(f, testJWK{"ec-1", &ec.PublicKey, "ES256"}, testJWK{"ed-1", ed.Public(), "EdDSA"}), 0o600); err != nil {
		f.Fatal(err)
	}
	v := newJWTT(f, config.Source{Secrets: []string{jwtSecret}, JWKS: file, Algorithms: []string{"HS256", "ES256", "EdDSA"}})

	// The only bodies any token is signed for.
	signed := [][]byte{
		[]byte(`{"type":"drop.trigger","drop":"sticker-spring","id":"evt_1"}`),
		[]byte(``),
		[]byte(`{"type":"stream.online","id":"evt_2"}`),
	}
	for i, body := range signed {
		c := claimsFor(body)
		f.Add("Bearer "+signJWT(f, jwa.HS256, []byte(jwtSecret), "", c), body)
		f.Add(signJWT(f, jwa.ES256, ec, "ec-1", c), body)
		f.Add("Bearer "+signJWT(f, jwa.EdDSA, ed, "ed-1", c), body)
		f.Add("Bearer "+unsignedJWT(c), body)
		if i == 0 {
			delete(c, "exp")
			f.Add("Bearer "+signJWT(f, jwa.HS256, []byte(jwtSecret), "", c), body)
			f.Add("Bearer "+signJWT(f, jwa.HS256, []byte(jwtSecret), "", claimsFor(body)), signed[2])
		}
	}
	f.Add("Bearer a.b.c", []byte("{}"))
	f.Add("", []byte("{}"))

	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		got, err := v.Verify(http.Header{"Authorization": {auth}}, body, jwtNow)
		if err != nil {
			if !wireCode(err) {
				t.Fatalf("error without a wire code: %v", err)
			}
			return
		}
		ok := false
		for _, b := range signed {
			if bytes.Equal(b, body) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("accepted a body no token was signed for: %q (auth %q)", body, auth)
		}
		if got.Kind != KindEvent || (got.EventID != "" && checkID("jti", got.EventID) != nil) {
			t.Fatalf("Verified = %+v", got)
		}
	})
}

func FuzzTwitchVerify(f *testing.F) {
	for _, c := range []struct {
		typ  string
		body []byte
	}{{"notification", twitchNotificationBody}, {"webhook_callback_verification", twitchChallengeBody}, {"revocation", twitchRevocationBody}} {
		f.Add(twitchMsgID, twitchTS, twitchSign(twitchSecret, twitchMsgID, twitchTS, c.body), c.typ, c.body)
	}
	f.Add(twitchMsgID, twitchTS, "sha256=00", "notification", []byte("{}"))
	f.Add("", "", "", "", []byte(nil))
	v := newTwitchT(f, config.Source{Secrets: []string{twitchSecret}})

	f.Fuzz(func(t *testing.T, id, ts, sig, typ string, body []byte) {
		h := http.Header{
			HeaderTwitchMessageID:        {id},
			HeaderTwitchMessageTimestamp: {ts},
			HeaderTwitchMessageSignature: {sig},
			HeaderTwitchMessageType:      {typ},
		}
		got, err := v.Verify(h, body, twitchTime)
		if err != nil {
			if !wireCode(err) {
				t.Fatalf("error without a wire code: %v", err)
			}
			return
		}
		if sig != twitchSign(twitchSecret, id, ts, body) {
			t.Fatalf("accepted signature %q for id %q ts %q body %q", sig, id, ts, body)
		}
		switch got.Kind {
		case KindNotification, KindRevocation:
		case KindChallenge:
			if got.Challenge == "" {
				t.Fatalf("challenge without a value: %+v", got)
			}
		default:
			t.Fatalf("Verified = %+v", got)
		}
		if got.EventID != id {
			t.Fatalf("EventID = %q, want %q", got.EventID, id)
		}
		// Whatever verified, Trigger must not panic on it.
		_, _, _ = v.Trigger(body, []config.Trigger{{Subscription: rewardSub, Match: map[string]string{"reward.title": "Sticker drop", "a.b.c": "1"}, Drop: "d"}})
	})
}

func FuzzTwitchTrigger(f *testing.F) {
	f.Add(twitchNotificationBody, "reward.title", "Sticker drop")
	f.Add([]byte(`{"subscription":{"type":"t"},"event":{"a":{"b":true}}}`), "a.b", "true")
	f.Add([]byte(`{"subscription":{"type":"t"},"event":{"":{"":1}}}`), ".", "1")
	v := newTwitchT(f, config.Source{Secrets: []string{twitchSecret}})
	f.Fuzz(func(t *testing.T, body []byte, path, want string) {
		drop, ok, err := v.Trigger(body, []config.Trigger{{Subscription: rewardSub, Match: map[string]string{path: want}, Drop: "d"}, {Subscription: "t", Match: map[string]string{path: want}, Drop: "e"}})
		if err != nil && (ok || drop != "" || !wireCode(err)) {
			t.Fatalf("Trigger = %q, %v, %v", drop, ok, err)
		}
		if ok != (drop != "") {
			t.Fatalf("Trigger = %q, %v", drop, ok)
		}
	})
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"id":"evt_1","type":"drop.trigger","drop":"sticker-spring","moment":"m-42","occurred_at":"2026-05-01T12:00:00.25Z","data":{"scene":"intro"}}`,
		`{"id":"e","type":"stream.online"}`,
		`{"type":"drop.close","drop":"d","moment":null,"data":null}`,
		`{"id":"e","type":"stream.offline","occurred_at":"2026-05-01T14:00:00+02:00","data":[1,"x",{"y":null}]}`,
		`[]`, `null`, `{"id":1}`, `{"ID":"x","Type":"stream.online"}`,
		refPayload,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), refMsgID)
	}
	f.Fuzz(func(t *testing.T, body []byte, headerID string) {
		env, err := DecodeEnvelope(body, headerID)
		if err != nil {
			if Code(err) != CodeMalformedEvent {
				t.Fatalf("error %v is not malformed_event", err)
			}
			return
		}
		switch env.Type {
		case TypeDropTrigger, TypeDropClose:
			if checkID("drop", env.Drop) != nil {
				t.Fatalf("drop %q accepted for %s", env.Drop, env.Type)
			}
		case TypeStreamOnline, TypeStreamOffline:
			if env.Drop != "" && checkID("drop", env.Drop) != nil {
				t.Fatalf("drop %q accepted", env.Drop)
			}
		default:
			t.Fatalf("type %q accepted", env.Type)
		}
		if checkID("id", env.ID) != nil || checkID("moment", env.Moment) != nil {
			t.Fatalf("id %q / moment %q accepted", env.ID, env.Moment)
		}
		if headerID != "" && env.ID != headerID {
			t.Fatalf("id %q, header id %q", env.ID, headerID)
		}
		if env.Data != nil && !json.Valid(env.Data) {
			t.Fatalf("data %q is not JSON", env.Data)
		}
		// What was accepted survives a round trip unchanged.
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", env, err)
		}
		again, err := DecodeEnvelope(out, "")
		if err != nil {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		var data bytes.Buffer
		if env.Data != nil {
			_ = json.Compact(&data, env.Data)
		}
		if again.ID != env.ID || again.Type != env.Type || again.Drop != env.Drop || again.Moment != env.Moment ||
			!again.OccurredAt.Equal(env.OccurredAt) || string(again.Data) != data.String() {
			t.Fatalf("round trip changed %+v into %+v", env, again)
		}
	})
}
