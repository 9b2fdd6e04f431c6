package verifier

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dropwire/dropwire/internal/schedule"
)

// Calendar is an RFC 5545 calendar of one campaign region's windows: one
// VEVENT per window, times in UTC (which every calendar reads the same,
// whatever zone it is shown in).
type Calendar struct {
	// Name is the calendar's name (X-WR-CALNAME), Summary and Description
	// those of every event, URL the announcement page.
	Name, Summary, Description, URL string
	// UIDDomain makes event UIDs globally unique: the public host.
	UIDDomain string
	// UIDPrefix identifies the campaign and region in each UID.
	UIDPrefix string
	Windows   []schedule.Window
	// Stamp is DTSTAMP: when the calendar was made.
	Stamp time.Time
}

const icsTime = "20060102T150405Z"

// Bytes renders the calendar: CRLF line endings, lines folded at 75
// octets (never inside a UTF-8 sequence), text values escaped.
func (c *Calendar) Bytes() []byte {
	var b bytes.Buffer
	line := func(name, value string) { foldLine(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//Dropwire//Campaign windows//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	if c.Name != "" {
		line("X-WR-CALNAME", escapeText(c.Name))
	}
	for _, w := range c.Windows {
		line("BEGIN", "VEVENT")
		line("UID", c.UIDPrefix+"-"+w.Start.UTC().Format(icsTime)+"@"+c.UIDDomain)
		line("DTSTAMP", c.Stamp.UTC().Format(icsTime))
		line("DTSTART", w.Start.UTC().Format(icsTime))
		line("DTEND", w.End.UTC().Format(icsTime))
		line("SUMMARY", escapeText(c.Summary))
		if c.Description != "" {
			line("DESCRIPTION", escapeText(c.Description))
		}
		if c.URL != "" {
			line("URL", c.URL)
		}
		line("TRANSP", "TRANSPARENT")
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return b.Bytes()
}

// escapeText escapes an RFC 5545 TEXT value (§3.3.11).
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// foldLine writes one content line, folded so that no line is longer than
// 75 octets (§3.1): a continuation starts with a space, which counts.
func foldLine(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
