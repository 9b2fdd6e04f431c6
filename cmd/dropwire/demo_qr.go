package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/skip2/go-qrcode"

	"github.com/dropwire/dropwire/internal/app"
	"github.com/dropwire/dropwire/overlay"
	"github.com/dropwire/dropwire/verifier"
)

// terminalQR draws content as a QR code with half-block characters: one
// text row holds two module rows. With color, dark modules are black on an
// explicit white background, so it scans on dark and light terminals;
// without, '█' marks dark modules (for a light background or a file).
func terminalQR(content string, color bool) (string, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap() // with the 4-module quiet zone
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		if color {
			b.WriteString("\x1b[30;47m")
		}
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		if color {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// watchClaimQR prints the claim URL, and with drawQR its QR, whenever the
// code shown on the overlays changes: a drop opens, or its code rotates. It
// reads the state once a second until ctx is done.
func watchClaimQR(ctx context.Context, w io.Writer, a *app.App, drawQR bool) {
	codes, err := overlay.NewCodes(overlay.CodesConfig{Store: a.Store(), Drops: a.Drops(), States: a.Verifier()})
	if err != nil {
		return
	}
	base := strings.TrimSuffix(a.Config().PublicURL, "/")
	color := isTerminal(w)
	var last string
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var open *verifier.DropState
		var title string
		for _, d := range a.Drops().All("") {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := a.Verifier().State(rctx, d.ID)
			cancel()
			if err != nil || st.Status != verifier.StatusOpen {
				continue
			}
			if open == nil || st.OpenedAt.After(open.OpenedAt) {
				open, title = &st, d.Title
			}
		}
		if open == nil {
			last = ""
			continue
		}
		d, err := a.Drops().Drop(ctx, open.Drop)
		if err != nil {
			continue
		}
		code, rotates, _ := codes.Issue(ctx, d, now)
		if code == "" {
			continue
		}
		url := base + "/c/" + code
		if url == last {
			continue
		}
		last = url
		if !drawQR {
			fmt.Fprintf(w, "Drop %q is open until %s. Claim: %s (rotates at %s)\n",
				title, open.ClosesAt.Local().Format("15:04:05"), url, rotates.Local().Format("15:04:05"))
			continue
		}
		qr, err := terminalQR(url, color)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "\nDrop %q is open until %s. Scan to claim (this code rotates at %s; it stays valid %s longer):\n\n%s  %s\n",
			title, open.ClosesAt.Local().Format("15:04:05"), rotates.Local().Format("15:04:05"), d.ScanGrace.D(), qr, url)
	}
}
