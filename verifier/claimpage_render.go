package verifier

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// Rendering the claim page once per view. A crowd opening one code sees
// the same page but for the server time, so a page without anything of
// one viewer in it (a receipt, a proof-of-work challenge) is kept by its
// view and rendered once: html/template is most of a page's CPU
// otherwise. The view's key is written field by field (appendViewKey);
// encoding the view as JSON to key it cost as much again as the rest of
// the page.

// serverTimeMark stands for the server time in a rendered page, so that
// pages that differ only in it are rendered once (see render).
const serverTimeMark = "DW_SERVER_TIME_MARK"

// pageCacheSize bounds the rendered pages kept: a few per drop on stream
// (each code, stock level and node order renders one).
const pageCacheSize = 512

// renderedPage is a claim page as sent: the HTML before and after the
// server time (which goes between them), and its policy header. Shared
// by every view it was kept for; never modified.
type renderedPage struct {
	head, tail []byte
	marked     bool     // the server time goes between head and tail
	csp        []string // the Content-Security-Policy header's value
}

// size is the page's length with the server time t.
func (p *renderedPage) size(t string) int {
	if !p.marked {
		return len(p.head)
	}
	return len(p.head) + len(t) + len(p.tail)
}

// write writes the page with the server time t.
func (p *renderedPage) write(w io.Writer, t string) {
	_, _ = w.Write(p.head)
	if p.marked {
		_, _ = io.WriteString(w, t)
		_, _ = w.Write(p.tail)
	}
}

func newRenderedPage(html []byte, image string) *renderedPage {
	p := &renderedPage{head: html, csp: []string{claimPageCSP(image)}}
	if i := bytes.Index(html, []byte(serverTimeMark)); i >= 0 {
		p.head, p.tail, p.marked = html[:i], html[i+len(serverTimeMark):], true
	}
	return p
}

// keyBufs holds the buffers view keys are written in.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// render returns the claim page of v, kept or rendered.
func (a *ClaimsAPI) render(v *claimPageView) (*renderedPage, error) {
	keep := v.serverTime != "" && v.Claimed == nil && v.extra == nil
	var key []byte
	if keep {
		buf := keyBufs.Get().(*[]byte)
		defer func() {
			if cap(key) <= 16<<10 {
				*buf = key[:0]
				keyBufs.Put(buf)
			}
		}()
		key = appendViewKey((*buf)[:0], v)
	}
	if keep {
		a.renderedMu.Lock()
		p := a.rendered[string(key)]
		a.renderedMu.Unlock()
		if p != nil {
			return p, nil
		}
	}
	var b bytes.Buffer
	if err := a.page.Execute(&b, v); err != nil {
		return nil, err
	}
	p := newRenderedPage(b.Bytes(), v.Image)
	if keep {
		a.renderedMu.Lock()
		if len(a.rendered) >= pageCacheSize {
			clear(a.rendered)
		}
		a.rendered[string(key)] = p
		a.renderedMu.Unlock()
	}
	return p, nil
}

// appendViewKey appends to b a key of v: every field the template reads
// but the server time and what is of one viewer (a page with either is
// not kept), each written so that no two views share a key. The script's
// data is made of the same fields (claimPageView.Data).
func appendViewKey(b []byte, v *claimPageView) []byte {
	for _, s := range [...]string{v.Code, v.Drop, v.Status, v.Title, v.Description, v.Image, v.Message, v.SoldOutAt,
		v.SoldOutText, v.Identity, v.SignIn, v.Policy, v.Until, v.CSS, v.JS} {
		b = appendKeyString(b, s)
	}
	b = appendKeyInt(b, int64(v.PerViewer))
	b = appendKeyInt(b, v.Left)
	b = appendKeyInt(b, v.Total)
	b = appendKeyBool(b, v.UntilCloses)
	b = appendKeyInt(b, int64(len(v.Nodes)))
	for i := range v.Nodes {
		n := &v.Nodes[i]
		for _, s := range [...]string{n.ID, n.Name, n.Region, n.Address, n.Hours, n.Deadline} {
			b = appendKeyString(b, s)
		}
		b = appendKeyInt(b, n.Left)
		b = appendKeyBool(b, n.Checked)
	}
	return b
}

func appendKeyString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendKeyInt(b []byte, n int64) []byte {
	b = strconv.AppendInt(b, n, 10)
	return append(b, ';')
}

func appendKeyBool(b []byte, x bool) []byte {
	if x {
		return append(b, 'T')
	}
	return append(b, 'F')
}
