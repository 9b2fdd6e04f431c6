package overlay

import (
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRQuietZone is the white margin around the symbol, in modules, that the
// QR specification asks for.
const QRQuietZone = 4

// QRSVG renders content as a QR code (error correction M) in SVG: dark
// modules as one <path> of rectangles on a white square that covers the
// symbol and its quiet zone only. It returns the SVG and the QR version.
func QRSVG(content string) (string, int, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", 0, err
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	n := len(bm)
	size := strconv.Itoa(n + 2*QRQuietZone)

	var b strings.Builder
	b.Grow(64 + n*n*3)
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `)
	b.WriteString(size + " " + size)
	b.WriteString(`" shape-rendering="crispEdges"><rect width="`)
	b.WriteString(size + `" height="` + size)
	b.WriteString(`" fill="#fff"/><path fill="#000" d="`)
	for y, row := range bm {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < n && row[x+run] {
				run++
			}
			// One rectangle per horizontal run of dark modules.
			b.WriteByte('M')
			b.WriteString(strconv.Itoa(x + QRQuietZone))
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(y + QRQuietZone))
			b.WriteByte('h')
			b.WriteString(strconv.Itoa(run))
			b.WriteString("v1h-")
			b.WriteString(strconv.Itoa(run))
			b.WriteByte('z')
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), q.VersionNumber, nil
}
