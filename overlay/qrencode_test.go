package overlay

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	qrcode "github.com/skip2/go-qrcode"
)

// Every symbol encodeQR makes reads back, with a decoder, as what it
// encodes: claim URLs and random printable content of every length that
// fits versions 1 to 10 (so every block structure and the version
// information of 7 to 10), with and without an alphanumeric tail. Each is
// at level M, no larger than go-qrcode's for the same content, and has the
// fixed patterns frames leave out.
func TestEncodeQRDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var contents []string
	for _, code := range []string{"ABCDEFGHIJ", "Q2W3E4R5T6", "ZZZZZZZZZZ"} {
		contents = append(contents, "https://drops.example.com/c/"+code, "http://127.0.0.1:8080/c/"+code,
			"https://rewards.some-long-streamer-domain.example.org/dropwire/c/"+code)
	}
	for n := 1; n <= 213; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x5F))
		}
		contents = append(contents, string(b))
		// An alphanumeric tail, alone or after bytes: two segments.
		tail := make([]byte, rng.IntN(n)+1)
		for i := range tail {
			tail[i] = qrAlnum[rng.IntN(len(qrAlnum))]
		}
		contents = append(contents, string(b[:n-len(tail)])+string(tail))
	}
	versions := map[int]bool{}
	for _, content := range contents {
		bm, version, ok := encodeQR([]byte(content))
		if !ok {
			t.Fatalf("%d bytes: not encoded", len(content))
		}
		versions[version] = true
		if len(bm) != 17+4*version {
			t.Fatalf("version %d is %d modules a side", version, len(bm))
		}
		res, err := decoder.NewDecoder().DecodeBoolMapWithoutHint(bm)
		if err != nil || res.GetText() != content {
			t.Fatalf("version %d, %d bytes: decodes to %q, %v", version, len(content), res.GetText(), err)
		}
		if res.GetECLevel() != "M" {
			t.Fatalf("level %s", res.GetECLevel())
		}
		q, err := qrcode.New(content, qrcode.Medium)
		if err != nil || version > q.VersionNumber {
			t.Fatalf("%q: version %d, go-qrcode %d", content, version, q.VersionNumber)
		}
		for r := range bm {
			for c := range bm {
				if fixed, dark := fixedModule(len(bm), r, c); fixed && bm[r][c] != dark {
					t.Fatalf("version %d: fixed module (%d,%d) is %v", version, r, c, bm[r][c])
				}
			}
		}
	}
	for v := 1; v <= 10; v++ {
		if !versions[v] {
			t.Errorf("no content of version %d", v)
		}
	}
	if _, _, ok := encodeQR(make([]byte, 214)); ok {
		t.Fatal("214 bytes encoded: past version 10")
	}
}

// The claim URL of the overlay on a realistic public_url is version 3.
func TestEncodeQRClaimURLVersion(t *testing.T) {
	if _, v, _ := encodeQR([]byte("https://drops.example.com/c/ABCDEFGHIJ")); v != 3 {
		t.Fatalf("version %d", v)
	}
}

// BenchmarkQREncode: encoding a claim URL, here and with go-qrcode.
func BenchmarkQREncode(b *testing.B) {
	url := "https://drops.example.com/c/ABCDEFGHIJ"
	for _, enc := range []struct {
		name string
		f    func(string) ([][]bool, int, error)
	}{{"overlay", qrBitmap}, {"go-qrcode", goQRBitmap}} {
		b.Run(fmt.Sprintf("encoder=%s", enc.name), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, _, err := enc.f(url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// penaltyByTheBook is qrPenalty module by module, as the rules read.
func penaltyByTheBook(m []bool, n int) int {
	at := func(r, c int, byRow bool) bool {
		if byRow {
			return m[r*n+c]
		}
		return m[c*n+r]
	}
	score := 0
	for _, byRow := range []bool{true, false} {
		for r := range n {
			run := 0
			for c := range n {
				if c > 0 && at(r, c, byRow) == at(r, c-1, byRow) {
					run++
				} else {
					if run >= 5 {
						score += 3 + run - 5
					}
					run = 1
				}
			}
			if run >= 5 {
				score += 3 + run - 5
			}
			light := func(c int) bool { return c < 0 || c >= n || !at(r, c, byRow) }
			for c := 0; c+7 <= n; c++ {
				if !at(r, c, byRow) || at(r, c+1, byRow) || !at(r, c+2, byRow) || !at(r, c+3, byRow) ||
					!at(r, c+4, byRow) || at(r, c+5, byRow) || !at(r, c+6, byRow) {
					continue
				}
				before, after := true, true
				for k := 1; k <= 4; k++ {
					before = before && light(c-k)
					after = after && light(c+6+k)
				}
				if before || after {
					score += 40
				}
			}
		}
	}
	dark := 0
	for r := range n {
		for c := range n {
			if m[r*n+c] {
				dark++
			}
			if r+1 < n && c+1 < n {
				v := m[r*n+c]
				if m[r*n+c+1] == v && m[(r+1)*n+c] == v && m[(r+1)*n+c+1] == v {
					score += 3
				}
			}
		}
	}
	total := n * n
	k := (abs(dark*20-total*10)+total-1)/total - 1
	return score + max(k, 0)*10
}

// qrPenalty, on bit sets, scores as the rules read, module by module,
// for every mask of symbols of several versions.
func TestQRPenalty(t *testing.T) {
	for _, u := range []string{"https://drops.example.com/c/ABCDEFGHIJ", "x", "hello world 12345", string(make([]byte, 150)), "https://a.example/c/ZZZZZZZZZZ"} {
		bm, _, _ := encodeQR([]byte(u))
		n := len(bm)
		m := make([]bool, n*n)
		for r := range bm {
			copy(m[r*n:], bm[r])
		}
		g := &qrGrid{n: n, dark: m, function: make([]bool, n*n)}
		out := make([]bool, n*n)
		for mask := range 8 {
			applyMask(g, out, mask)
			if a, b := qrPenalty(out, n), penaltyByTheBook(out, n); a != b {
				t.Errorf("%q mask %d: %d, by the book %d", u, mask, a, b)
			}
		}
	}
}
