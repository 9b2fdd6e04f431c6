package main

import (
	"bytes"
	"testing"

	"github.com/dropwire/dropwire/internal/config"
)

// The overlay benchmarks read type, status and drop from every frame; the
// short cut past the QR must give what a whole decode gives, whatever the
// order of the members.
func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		name, msg           string
		typ, status, dropID string
		err                 bool
	}{
		{name: "qr last", msg: `{"v":2,"type":"state","seq":3,"status":"open","drop":{"id":"d7","title":"T"},"qr":{"size":21,"modules":"AAAA","rotates_at":1}}`,
			typ: "state", status: "open", dropID: "d7"},
		{name: "qr first", msg: `{"qr":{"size":21,"modules":"AAAA"},"type":"state","status":"open","drop":{"id":"d8"}}`,
			typ: "state", status: "open", dropID: "d8"},
		{name: "status after qr", msg: `{"type":"state","drop":{"id":"d9"},"qr":{"modules":"x"},"status":"closed"}`,
			typ: "state", status: "closed", dropID: "d9"},
		{name: "qr inside a string", msg: `{"type":"state","status":"idle","note":"a,\"qr\":b"}`,
			typ: "state", status: "idle"},
		{name: "no qr", msg: `{"type":"ping"}`, typ: "ping"},
		{name: "malformed", msg: `{"type":"state","qr":`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f overlayFrame
			err := decodeFrame([]byte(tc.msg), &f)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if tc.err {
				return
			}
			id := ""
			if f.Drop != nil {
				id = f.Drop.ID
			}
			if f.Type != tc.typ || f.Status != tc.status || id != tc.dropID {
				t.Fatalf("got type %q status %q drop %q", f.Type, f.Status, id)
			}
		})
	}
}

// The configuration `bench moment --write-config --creators N` writes is
// valid, and has what --creators reads: per creator an overlay key, a
// source and a drop of its own.
func TestWriteCreatorsConfig(t *testing.T) {
	var b bytes.Buffer
	if err := writeCreatorsConfig(&b, 3, "https://drops.example.com"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("bench.yaml", b.Bytes(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(cfg.Creators) != 3 || len(cfg.Sources) != 3 || len(cfg.Drops) != 3 {
		t.Fatalf("%d creators, %d sources, %d drops", len(cfg.Creators), len(cfg.Sources), len(cfg.Drops))
	}
	for i := range 3 {
		src, ok := cfg.Source(benchSourceID(i))
		d, ok2 := cfg.Drop(benchDropID(i))
		c, ok3 := cfg.Creator(benchCreatorID(i))
		if !ok || !ok2 || !ok3 || src.Creator != c.ID || d.Creator != c.ID || len(c.OverlayKeys) != 1 {
			t.Fatalf("creator %d: %+v %+v %+v", i, src, d, c)
		}
	}
}
