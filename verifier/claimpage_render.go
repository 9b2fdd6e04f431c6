package verifier

import (
	"bytes"
	"io"
	"slices"
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
	keep := v.serverTime != "" && v.Claimed == nil && v.Data["pow"] == nil
	var key []byte
	if keep {
		buf := keyBufs.Get().(*[]byte)
		defer func() {
			if cap(key) <= 16<<10 {
				*buf = key[:0]
				keyBufs.Put(buf)
			}
		}()
		key, keep = appendViewKey((*buf)[:0], v)
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
// but the server time and the receipt (a page with one is not kept),
// each written so that no two views share a key. ok is false when the
// script data holds a value of a type not written here; such a view is
// not kept.
func appendViewKey(b []byte, v *claimPageView) (_ []byte, ok bool) {
	for _, s := range [...]string{v.Status, v.Title, v.Description, v.Image, v.Message, v.SoldOutAt, v.SoldOutText,
		v.Identity, v.SignIn, v.Policy, v.Until, v.CSS, v.JS} {
		b = appendKeyString(b, s)
	}
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
	return appendKeyValue(b, v.Data)
}

func appendKeyString(b []byte, s string) []byte {
	b = append(b, 's')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendKeyInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, ';')
}

func appendKeyBool(b []byte, x bool) []byte {
	if x {
		return append(b, 'T')
	}
	return append(b, 'F')
}

// appendKeyValue writes a value of the script data: the types the claim
// page puts there.
func appendKeyValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 'n'), true
	case string:
		return appendKeyString(b, x), true
	case bool:
		return appendKeyBool(b, x), true
	case int:
		return appendKeyInt(b, int64(x)), true
	case int64:
		return appendKeyInt(b, x), true
	case map[string]any:
		var stack [24]string
		keys := stack[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, 'm')
		b = strconv.AppendInt(b, int64(len(keys)), 10)
		b = append(b, '{')
		for _, k := range keys {
			b = appendKeyString(b, k)
			var ok bool
			if b, ok = appendKeyValue(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []map[string]any:
		b = append(b, 'l')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, '[')
		for _, m := range x {
			var ok bool
			if b, ok = appendKeyValue(b, m); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}
