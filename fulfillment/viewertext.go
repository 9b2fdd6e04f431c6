package fulfillment

import (
	"encoding/json"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAnswer bounds what is read of a delivery's answer: enough for a
// viewer_text of MaxViewerText characters, each escaped.
const maxAnswer = 8 << 10

// MaxViewerText is the longest viewer_text kept, in characters; longer
// text is cut.
const MaxViewerText = 500

// ViewerText returns the text for the viewer in a compensation webhook's
// 2xx answer: the "viewer_text" string of a JSON object body, e.g.
// {"viewer_text": "Your 10 € voucher is in your account."}. Anything else
// (no JSON, a truncated or non-object body, no such member, a non-string
// value) is no text. The text is plain: control characters other than
// line breaks are dropped, blanks trimmed, and it is cut at MaxViewerText
// characters. The receipt page shows it as text, never as HTML.
func ViewerText(contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return ""
		}
	}
	var a struct {
		ViewerText *string `json:"viewer_text"`
	}
	if json.Unmarshal(body, &a) != nil || a.ViewerText == nil {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(*a.ViewerText) {
		if n == MaxViewerText {
			break
		}
		switch {
		case r == '\r':
			continue
		case r == '\n':
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			// Bidi overrides and the like could make the text read
			// other than it is.
			continue
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
