package sdkhooks

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"strconv"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/dropwire/dropwire/internal/config"
)

// benchBody is a 1 KiB capture event.
var benchBody = func() []byte {
	b := []byte(`{"id":"evt_01HZX3","type":"drop.trigger","drop":"sticker-spring","moment":"m-42","occurred_at":"2026-05-01T12:00:00.25Z","data":{"pad":"`)
	b = append(b, bytes.Repeat([]byte("x"), 1024-len(b)-3)...)
	return append(b, `"}}`...)
}()

func BenchmarkStandardVerify(b *testing.B) {
	signer, _ := NewSigner(refSecret)
	v := newStandardT(b, config.Source{Secrets: []string{refSecret}})
	h := signer.Headers(refMsgID, refTime, benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := v.Verify(h, benchBody, refTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStandardVerifyParallel(b *testing.B) {
	signer, _ := NewSigner(refSecret)
	v := newStandardT(b, config.Source{Secrets: []string{otherSecret, refSecret}})
	h := signer.Headers(refMsgID, refTime, benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(h, benchBody, refTime); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStandardVerifyEd25519(b *testing.B) {
	priv := refEdKey(b)
	v := newStandardT(b, config.Source{PublicKeys: []string{EncodePublicKey(priv.Public().(ed25519.PublicKey))}})
	h := stdHeader(refMsgID, strconv.Itoa(refTS), SignEd25519(priv, refMsgID, refTime, benchBody))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := v.Verify(h, benchBody, refTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJWTVerify(b *testing.B) {
	v := newJWTT(b, config.Source{Secrets: []string{jwtSecret}})
	h := bearer(signJWT(b, jwa.HS256, []byte(jwtSecret), "", claimsFor(benchBody)))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := v.Verify(h, benchBody, jwtNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTwitchVerify(b *testing.B) {
	v := newTwitchT(b, config.Source{Secrets: []string{twitchSecret}})
	h := twitchHeader("notification", twitchMsgID, twitchTS, twitchSign(twitchSecret, twitchMsgID, twitchTS, twitchNotificationBody))
	b.ReportAllocs()
	b.SetBytes(int64(len(twitchNotificationBody)))
	for b.Loop() {
		if _, err := v.Verify(h, twitchNotificationBody, twitchTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := DecodeEnvelope(benchBody, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStandardReject is the cost of a forged request.
func BenchmarkStandardReject(b *testing.B) {
	v := newStandardT(b, config.Source{Secrets: []string{refSecret}})
	h := http.Header{"Webhook-Id": {refMsgID}, "Webhook-Timestamp": {strconv.Itoa(refTS)}, "Webhook-Signature": {refOtherSig}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(h, benchBody, refTime); err == nil {
			b.Fatal("forged request verified")
		}
	}
}
