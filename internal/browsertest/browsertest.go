// Package browsertest drives Dropwire's pages in real headless Chromium
// for tests: one way to start the browser, take screenshots (kept as test
// artifacts) and read a QR code off them as a phone would.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// Options are per-test browser settings.
type Options struct {
	// Width and Height set the viewport (default 1920×1080).
	Width, Height int64
	// Mobile emulates a phone (touch, mobile viewport) at DeviceScale.
	Mobile      bool
	DeviceScale float64
	// WebRTC lets pages open peer connections over loopback.
	WebRTC bool
	// FakeCamera, when set, is a .y4m or .mjpeg file the browser's camera
	// shows (Chromium's fake capture device), granted without a prompt.
	// The file is read when a page opens the camera: it may be written
	// after the browser starts (see WriteY4M).
	FakeCamera string
}

// New starts a headless Chromium with a fresh profile, closed when t ends.
// A missing browser fails the test: ./scripts/test installs it.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	path := Chromium
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("no Chromium at %s: install it with apt-get install chromium, or run ./scripts/test", Chromium)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
	}
	if o.WebRTC {
		opts = append(opts,
			chromedp.Flag("allow-loopback-in-peer-connection", true),
			chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"))
	}
	if o.FakeCamera != "" {
		opts = append(opts,
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-file-for-fake-video-capture", o.FakeCamera))
	}
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 1920, 1080
	}
	opts = append(opts, chromedp.WindowSize(int(o.Width), int(o.Height)))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	scale := o.DeviceScale
	if scale == 0 {
		scale = 1
	}
	emulate := []chromedp.EmulateViewportOption{chromedp.EmulateScale(scale)}
	if o.Mobile {
		emulate = append(emulate, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.Width, o.Height, emulate...)); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// TransparentBackground makes what a page does not paint come out with
// alpha 0 in screenshots, as in an OBS browser source. Call it after each
// navigation.
func TransparentBackground(t testing.TB, ctx context.Context) {
	t.Helper()
	// cdp.RGBA omits a zero alpha (which then means opaque), so the color
	// is spelled out.
	cmd := cdp.Command[map[string]any, cdp.Empty]{Method: emulation.CommandSetDefaultBackgroundColorOverride}
	color := map[string]any{"color": map[string]any{"r": 0, "g": 0, "b": 0, "a": 0}}
	if _, err := chromedp.Call(ctx, cmd, color); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

// ArtifactDir is where screenshots go: $DROPWIRE_ARTIFACTS when set (CI
// keeps it), else the test's temp dir.
func ArtifactDir(t testing.TB) string {
	if d := os.Getenv("DROPWIRE_ARTIFACTS"); d != "" {
		_ = os.MkdirAll(d, 0o755)
		return d
	}
	return t.TempDir()
}

// Screenshot captures the viewport, saves it as name in ArtifactDir, and
// returns it.
func Screenshot(t testing.TB, ctx context.Context, name string) image.Image {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(ArtifactDir(t), name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DecodeQR reads the QR code in img, composited on white as a phone
// camera sees it, and fails t when there is none.
//
// The decoder's finder-pattern search can lock onto a finder-like run of
// data modules and miss a dense code (a few in a hundred perfect v18
// bitmaps); a phone gets a new frame at a new angle, and so does this: it
// tries the picture turned a quarter at a time, reading the same modules.
func DecodeQR(t testing.TB, img image.Image) string {
	t.Helper()
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Over)
	var first error
	for range 4 {
		bmp, err := gozxing.NewBinaryBitmapFromImage(rgba)
		if err != nil {
			t.Fatal(err)
		}
		res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
		if err == nil {
			return res.GetText()
		}
		if first == nil {
			first = err
		}
		rgba = quarterTurn(rgba)
	}
	t.Fatalf("no QR code in the screenshot: %v", first)
	return ""
}

// quarterTurn returns img turned 90° clockwise.
func quarterTurn(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetRGBA(b.Max.Y-1-y, x-b.Min.X, img.RGBAAt(x, y))
		}
	}
	return out
}

// WriteY4M writes img, centred on white in a width×height frame, as a
// one-frame YUV4MPEG2 (4:2:0) video: what Chromium's fake camera
// (Options.FakeCamera) shows, over and over.
func WriteY4M(t testing.TB, path string, img image.Image, width, height int) {
	t.Helper()
	frame := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	b := img.Bounds()
	at := image.Pt((width-b.Dx())/2, (height-b.Dy())/2)
	draw.Draw(frame, image.Rectangle{Min: at, Max: at.Add(b.Size())}, img, b.Min, draw.Over)
	var out bytes.Buffer
	fmt.Fprintf(&out, "YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg\nFRAME\n", width, height)
	y := make([]byte, width*height)
	u := make([]byte, (width/2)*(height/2))
	v := make([]byte, (width/2)*(height/2))
	for py := range height {
		for px := range width {
			c := frame.RGBAAt(px, py)
			r, g, bl := float64(c.R), float64(c.G), float64(c.B)
			y[py*width+px] = uint8(0.299*r + 0.587*g + 0.114*bl)
			if px%2 == 0 && py%2 == 0 {
				i := (py/2)*(width/2) + px/2
				u[i] = uint8(128 - 0.168736*r - 0.331264*g + 0.5*bl)
				v[i] = uint8(128 + 0.5*r - 0.418688*g - 0.081312*bl)
			}
		}
	}
	out.Write(y)
	out.Write(u)
	out.Write(v)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
