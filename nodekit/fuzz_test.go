package nodekit

import (
	"errors"
	"testing"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Any signed body either parses into an Event with a type and a claim id,
// or is refused as malformed; nothing panics.
func FuzzReceiverVerify(f *testing.F) {
	for _, s := range []string{createdBody, `{}`, `[]`, `null`, `{"type":"claim.created","claim":{"id":""}}`,
		`{"type":"claim.created","claim":{"id":"a","pickup_by":"tomorrow"}}`, `{"type":1,"claim":{"id":"a"}}`,
		`{"type":"claim.compensated","claim":{"id":"a","sandbox":"yes"}}`, ``} {
		f.Add([]byte(s))
	}
	r, err := NewReceiver(ReceiverConfig{Secrets: []string{secret}, Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := stdwebhooks.NewSigner(secret)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := r.Verify(signer.Headers("evt-1", t0, body), body)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("signed body refused with %v", err)
			}
			return
		}
		if ev.Type == "" || ev.Claim.ID == "" || ev.ID != "evt-1" {
			t.Fatalf("event %+v from %q", ev, body)
		}
	})
}

func BenchmarkReceiverVerify(b *testing.B) {
	r, _ := NewReceiver(ReceiverConfig{Secrets: []string{secret}, Now: func() time.Time { return t0 }})
	h := signed(b, secret, "d.c1.created", t0, createdBody)
	body := []byte(createdBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := r.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
