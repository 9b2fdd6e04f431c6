package config

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDescription is the longest drop description, in characters.
const MaxDescription = 500

// MaxImageURL is the longest drop image URL, in bytes.
const MaxImageURL = 2048

// DescriptionProblem says what is wrong with a drop description, "" when
// nothing: plain text of at most MaxDescription characters, line breaks
// allowed, no other control characters.
func DescriptionProblem(s string) string {
	if !utf8.ValidString(s) {
		return "must be UTF-8 text"
	}
	if n := utf8.RuneCountInString(s); n > MaxDescription {
		return fmt.Sprintf("is %d characters long; use at most %d", n, MaxDescription)
	}
	for i, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return fmt.Sprintf("has a control character (U+%04X) at byte %d: plain text only", r, i)
		}
	}
	return ""
}

// ImageProblem says what is wrong with a drop image, "" when nothing (or
// no image): an absolute https URL of at most MaxImageURL bytes, or the
// path of an image uploaded through the admin API, /i/<32 hex>.<ext>
// (png, jpg, webp or gif; see ImagePath).
func ImageProblem(s string) string {
	if s == "" || ImagePath(s) {
		return ""
	}
	if len(s) > MaxImageURL {
		return fmt.Sprintf("is %d bytes long; use at most %d", len(s), MaxImageURL)
	}
	const want = "must be an https URL (e.g. https://cdn.example/reward.png), or the /i/… path the admin API's image upload returns"
	if strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '\'' || r == '<' || r == '>' || r == '\\' || r >= 0x7f
	}) {
		return want + "; spaces, quotes and non-ASCII characters must be percent-encoded"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	if !validHost(u.Host) {
		return want
	}
	return ""
}

// validHost reports whether h (host[:port]) is made of the characters a
// host name, an IP address literal and a port use: what may go into a
// Content-Security-Policy source as it is.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return h != ""
}

// ImagePath reports whether s is the path of an image uploaded through
// the admin API: /i/ then 32 lower-case hex digits (a SHA-256 prefix of
// the bytes), a dot and png, jpg, webp or gif.
func ImagePath(s string) bool {
	name, ok := strings.CutPrefix(s, "/i/")
	if !ok {
		return false
	}
	_, _, ok = ParseImageName(name)
	return ok
}

// ImageExts maps the extensions of uploaded images to their media types.
var ImageExts = map[string]string{
	"png":  "image/png",
	"jpg":  "image/jpeg",
	"webp": "image/webp",
	"gif":  "image/gif",
}

// ParseImageName splits an uploaded image's file name, "<32 hex>.<ext>",
// into its hash and extension; ok is false for anything else.
func ParseImageName(name string) (hash, ext string, ok bool) {
	hash, ext, found := strings.Cut(name, ".")
	if !found || len(hash) != 32 || ImageExts[ext] == "" {
		return "", "", false
	}
	for i := 0; i < len(hash); i++ {
		if c := hash[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", "", false
		}
	}
	return hash, ext, true
}
