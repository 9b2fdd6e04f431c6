package fulfillment

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
)

// A receipt whose QR code the decoder misreads upright (a run of data
// modules looks like a finder pattern) is still read from a camera frame:
// a camera held still sends the same frame every time, so a single
// reading would never find it.
func TestDecodeQRReadsAReceiptMisreadUpright(t *testing.T) {
	// The shape of a real receipt: an ES256 JWS of a claim, as the
	// receipt page encodes it (go-qrcode, level M, version 18).
	const receipt = "eyJhbGciOiJFUzI1NiIsImtpZCI6IkJUNWs1MDN0blQ5X29JZjg4dUpaVHh0N3Mxam9wX0RMTTdrMW9oZFpNVk0iLCJ0eXAiOiJKV1QifQ." +
		"eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjQxMjM0Iiwic3ViIjoiTG5KNTEwZUprcm1naUF3USIsImNsYWltX2lkIjoiS3d2V2gtMElBOGtVWEJjYSIsImRyb3AiOiJkZW1vLWRyb3AiLCJub2RlIjoia2lvc2siLCJza3UiOiJzdGlja2VyLXBhY2siLCJ0aWVyIjoic3RhbmRhcmQiLCJwaWNrdXBfY29kZSI6ImZjVzhjbW9CIiwicGlja3VwX2J5IjoxNzY0OTAwMDAwLCJpYXQiOjE3NjQ4MDAwMDAsImV4cCI6MTc2NTQwMDAwMH0." +
		"qZrjIdoKS__66UI5Rh9w39o6SXRwv7WbsghpV5hL5n21TJXi47QfNrfKH-xwJa4kTf2q3ZKYc99ZwbAcaRpXfw"
	q, err := qrcode.New(receipt, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	// A 960×720 camera frame, the code in the middle, sent as a JPEG.
	code := q.Image(len(q.Bitmap()) * 6)
	frame := image.NewRGBA(image.Rect(0, 0, 960, 720))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	at := image.Pt((960-code.Bounds().Dx())/2, (720-code.Bounds().Dy())/2)
	draw.Draw(frame, code.Bounds().Add(at), code, code.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, frame, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	if _, err := zxqr.NewQRCodeReader().Decode(bmp, hints); err == nil {
		t.Fatal("the decoder now reads this frame upright; pick a receipt that it misreads, or this test checks nothing")
	}
	if got, err := DecodeQR(img); got != receipt || err != nil {
		t.Fatalf("DecodeQR = %q, %v; want the %d-byte receipt", got, err, len(receipt))
	}
}
