package stdwebhooks

import (
	"bytes"
	"testing"
)

// benchBody is a 1 KiB webhook body.
var benchBody = func() []byte {
	b := []byte(`{"type":"claim.created","claim":{"id":"c_01HZX3","drop":"sticker-spring","pad":"`)
	b = append(b, bytes.Repeat([]byte("x"), 1024-len(b)-3)...)
	return append(b, `"}}`...)
}()

func BenchmarkVerify(b *testing.B) {
	signer, _ := NewSigner(refSecret)
	v := newVerifierT(b, Keys{Secrets: []string{refSecret}})
	h := signer.Headers(refMsgID, refTime, benchBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := v.Verify(h, benchBody, refTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	signer, _ := NewSigner(refSecret)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		_ = signer.Headers(refMsgID, refTime, benchBody)
	}
}
