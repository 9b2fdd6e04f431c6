package overlay

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	qrcode "github.com/skip2/go-qrcode"
)

// QRQuietZone is the white margin around the symbol, in modules, that the
// QR specification asks for.
const QRQuietZone = 4

// qrBitmap encodes content as a QR code at error correction M: its
// modules, dark true, without the quiet zone, and its version. Versions 1
// to 10 in byte mode (claim URLs) come from encodeQR, anything else from
// go-qrcode.
func qrBitmap(content string) ([][]bool, int, error) {
	if bm, version, ok := encodeQR([]byte(content)); ok {
		return bm, version, nil
	}
	return goQRBitmap(content)
}

// goQRBitmap is qrBitmap by go-qrcode.
func goQRBitmap(content string) ([][]bool, int, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, 0, err
	}
	q.DisableBorder = true
	return q.Bitmap(), q.VersionNumber, nil
}

// QRSVG renders content as a QR code (error correction M) in SVG: dark
// modules as one <path> of rectangles on a white square that covers the
// symbol and its quiet zone only. It returns the SVG and the QR version.
// Overlay frames carry the modules instead (QRModules); the receipt page
// shows this.
func QRSVG(content string) (string, int, error) {
	bm, version, err := qrBitmap(content)
	if err != nil {
		return "", 0, err
	}
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
	return b.String(), version, nil
}

// QRModules encodes content as a QR code (error correction M) and returns
// the symbol's size in modules and its modules packed as overlay frames
// carry them (PackModules).
func QRModules(content string) (size int, modules string, err error) {
	bm, _, err := qrBitmap(content)
	if err != nil {
		return 0, "", err
	}
	return len(bm), PackModules(bm), nil
}

// fixedModule reports whether the module at row r, column c of a symbol
// of n×n modules is one that every QR symbol of that size has, and so
// frames leave out: a finder pattern with its separator (the 8×8 corners
// top left, top right and bottom left) or a timing pattern (row 6 and
// column 6 between the finders). dark is its colour. web/overlay.js has the
// same function.
func fixedModule(n, r, c int) (fixed, dark bool) {
	fr, fc := -1, -1 // position within a finder's 7×7, separator outside
	switch {
	case r < 8 && c < 8:
		fr, fc = r, c
	case r < 8 && c >= n-8:
		fr, fc = r, c-(n-7)
	case r >= n-8 && c < 8:
		fr, fc = r-(n-7), c
	case r == 6:
		return true, c%2 == 0
	case c == 6:
		return true, r%2 == 0
	default:
		return false, false
	}
	if fr < 0 || fr > 6 || fc < 0 || fc > 6 {
		return true, false // separator
	}
	// Rings around the centre: dark edge (3), light ring (2), dark core.
	return true, max(abs(fr-3), abs(fc-3)) != 2
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// PackModules packs a QR symbol (dark true, no quiet zone) as overlay
// frames carry it: every module that is not a fixed pattern (see
// fixedModule), row by row from the top, left to right, one bit each (1
// dark), most significant bit first, the last byte padded with zeros;
// base64 (RFC 4648, standard alphabet, padded).
func PackModules(bm [][]bool) string {
	n := len(bm)
	buf := make([]byte, (n*n+7)/8)
	k := 0
	for r, row := range bm {
		for c, dark := range row {
			if fixed, _ := fixedModule(n, r, c); fixed {
				continue
			}
			if dark {
				buf[k/8] |= 0x80 >> (k % 8)
			}
			k++
		}
	}
	return base64.StdEncoding.EncodeToString(buf[:(k+7)/8])
}

// errModules is UnpackModules' answer to modules that do not fit size.
var errModules = errors.New("overlay: QR modules do not match the symbol size")

// UnpackModules is PackModules' inverse: the whole symbol of size×size
// modules, fixed patterns included.
func UnpackModules(size int, modules string) ([][]bool, error) {
	if size < 21 || size > 177 || size%4 != 1 {
		return nil, errModules
	}
	buf, err := base64.StdEncoding.DecodeString(modules)
	if err != nil {
		return nil, errModules
	}
	bm := make([][]bool, size)
	k := 0
	for r := range bm {
		bm[r] = make([]bool, size)
		for c := range bm[r] {
			if fixed, dark := fixedModule(size, r, c); fixed {
				bm[r][c] = dark
				continue
			}
			if k/8 >= len(buf) {
				return nil, errModules
			}
			bm[r][c] = buf[k/8]&(0x80>>(k%8)) != 0
			k++
		}
	}
	if (k+7)/8 != len(buf) {
		return nil, errModules
	}
	return bm, nil
}

// Text reads what the QR of a state message encodes (the claim URL), as a
// scanner reads a symbol: tools and tests that need the code take it from
// here.
func (q *QR) Text() (string, error) {
	bm, err := UnpackModules(q.Size, q.Modules)
	if err != nil {
		return "", err
	}
	res, err := decoder.NewDecoder().DecodeBoolMapWithoutHint(bm)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}
