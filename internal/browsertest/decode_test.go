package browsertest

import (
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"
)

// A dense receipt-sized code (v18) that the decoder misreads upright,
// because a run of data modules looks like a finder pattern, is still
// read: a camera sees it from another angle.
func TestDecodeQRReadsADenseCode(t *testing.T) {
	const content = "x2xgbAMUGRUtUN5jMFBdV9K3mXbzS4YcQIw00yoWJmwHWmrNbCgIDxmsmVG7zrBOd9aGEEkTYBwY3_fABeaInyfCQL4rA6FBqt6qfXoV_19rGxveBZPgBQ1pFWkCi2N-inEHUElDLbR7Pp8Fgj1XZEXIGE0SaCyMXq1w_0fIVed2JY75gJumBhigVQ6HthxcXeRwAiZtzaaysNYJwtWYTjBhjd02FhUgBxCsYzgBpee0qbYvMam3MBZcwu9DR9SVwtmOmaykY6-ks4c_KssEpE6FLeXy6KdHQ_GV1Ivx2XTAMnE5d9FIBjEDT_dZVO6n006Qnpmb0q2JFcxzA-j2AGX1L0rhJh6t2Cl0Il2YddqTmt6g8WUnDPxnG_4qiQJwShniBNpvB9y8o7eHWGl11Vv9Sv3XzoTu6B0VuwDyjc9BZhCtCsgNMH-x-kAIpHooAd1g4s1Ne2b70HbIdVEgqh1Y1KhxtlXc16sNrjtoLs67HbZ320hrp3z0bMqNClokM0JfvrZoVHU9ES"
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	img := q.Image(len(q.Bitmap()) * 6)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zxqr.NewQRCodeReader().Decode(bmp, nil); err == nil {
		t.Fatal("the decoder now reads this code upright; pick another that it misreads, or this test checks nothing")
	}
	if got := DecodeQR(t, img); got != content {
		t.Fatalf("DecodeQR = %q, want the %d-byte content", got, len(content))
	}
}
