package fulfillment

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg" // camera frames
	_ "image/png"
	"io"
	"mime"
	"net/http"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/dropwire/dropwire/internal/problem"
)

// Scanning: a browser with BarcodeDetector (Chrome on Android, Safari
// from 17 with the flag, ...) reads the receipt QR itself and sends its
// text to /lookup. Others (iOS Safari, Firefox, desktop Chromium on Linux)
// send camera frames to /scan, which reads the QR code here. Either way
// the text goes through ParseReceiptQR and the same lookup.

// DecodeQR reads the QR code in a picture, as a phone's scanner would.
// Errors: ErrNoQR.
//
// The decoder's finder-pattern search can lock onto a finder-like run of
// data modules and miss a dense code: a few receipts in a hundred (version
// 18) are unreadable upright however sharp the frame. A camera held still
// sends that same frame again and again, so one reading would fail for
// good; the picture is read at each quarter turn before giving up, and
// the modules are the same.
func DecodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", ErrNoQR
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	reader := zxqr.NewQRCodeReader()
	for turn := 0; ; turn++ {
		if res, err := reader.Decode(bmp, hints); err == nil {
			return res.GetText(), nil
		}
		if turn == 3 {
			return "", ErrNoQR
		}
		if bmp, err = bmp.RotateCounterClockwise(); err != nil {
			return "", ErrNoQR
		}
	}
}

// readFrameQR reads a camera frame from the request body and the QR code
// in it. Its size is checked before it is decoded.
func readFrameQR(w http.ResponseWriter, r *http.Request) (string, *problem.Problem) {
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "image/jpeg", "image/png":
	default:
		return "", problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send a camera frame as image/jpeg or image/png")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, consoleMaxFrame))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", problem.New(http.StatusRequestEntityTooLarge, "payload_too_large", "the frame is over 2 MiB")
		}
		return "", problem.New(http.StatusBadRequest, "malformed_request", "could not read the frame")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return "", problem.New(http.StatusBadRequest, "malformed_image", "the frame is not a JPEG or PNG picture")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > consoleMaxPixels {
		return "", problem.New(http.StatusRequestEntityTooLarge, "payload_too_large", "the frame has too many pixels")
	}
	img, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		return "", problem.New(http.StatusBadRequest, "malformed_image", "the frame is not a JPEG or PNG picture")
	}
	text, err := DecodeQR(img)
	if err != nil {
		return "", problem.New(http.StatusUnprocessableEntity, "no_qr", "No QR code could be read in this picture.")
	}
	return text, nil
}
