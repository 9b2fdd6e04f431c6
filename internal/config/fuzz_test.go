package config

import (
	"net/url"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/valid.yaml", "testdata/mistakes.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte("a: &a [*a]\nlisten: *a\n"))
	f.Add([]byte("x-d: &d {window: 1h}\ndrops: [{<<: [*d, *d], id: a}]\n"))
	f.Add([]byte("drops:\n  - id: &x ${X}\n    stock: [{node: *x}]\n"))
	env := envOf(testEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, env)
		if err == nil {
			if c == nil {
				t.Fatal("nil Config without error")
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Parse accepted what Validate rejects: %v", err)
			}
			return
		}
		if c != nil {
			t.Fatal("Config and error")
		}
		for _, v := range testEnv {
			if strings.Contains(err.Error(), v) && !strings.Contains(string(data), v) {
				t.Fatalf("error shows an expanded variable: %v", err)
			}
		}
	})
}

// An accepted image is one the claim page can put in an <img> and its
// origin in a Content-Security-Policy as they are: an uploaded image's
// path, or an https URL without spaces, quotes or credentials.
func FuzzImageProblem(f *testing.F) {
	for _, s := range []string{"", "https://cdn.example/a.png", "/i/0123456789abcdef0123456789abcdef.png",
		"http://x/a.png", "https://u:p@x/", "https://x;script-src/a", "https://[::1]:8443/a.gif", "javascript:alert(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ImageProblem(s) != "" || s == "" || ImagePath(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.User != nil || len(s) > MaxImageURL {
			t.Fatalf("accepted %q", s)
		}
		if strings.ContainsAny(u.Host, " ;,'\"") || strings.ContainsAny(s, " \"'<>\n") {
			t.Fatalf("accepted %q, whose origin or URL could break out of a header or an attribute", s)
		}
	})
}

// An accepted description is valid UTF-8 of at most MaxDescription
// characters with no control character but line breaks and tabs.
func FuzzDescriptionProblem(f *testing.F) {
	f.Add("Three stickers.\nDie-cut.")
	f.Add("\x00")
	f.Add(strings.Repeat("é", 501))
	f.Fuzz(func(t *testing.T, s string) {
		if DescriptionProblem(s) != "" {
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxDescription {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) && !strings.ContainsRune("\n\r\t", r) {
				t.Fatalf("accepted a control character in %q", s)
			}
		}
	})
}

// ParseImageName takes exactly the names an upload gets: 32 lower-case
// hex digits, a dot and one of the four extensions; nothing that could
// step out of the images' key space or path.
func FuzzParseImageName(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef.png")
	f.Add("0123456789abcdef0123456789abcdef.png.png")
	f.Add("../0123456789abcdef0123456789ab.gif")
	f.Fuzz(func(t *testing.T, name string) {
		hash, ext, ok := ParseImageName(name)
		if !ok {
			return
		}
		if name != hash+"."+ext || len(hash) != 32 || strings.Trim(hash, "0123456789abcdef") != "" || ImageExts[ext] == "" {
			t.Fatalf("took %q as %q . %q", name, hash, ext)
		}
		if !ImagePath("/i/" + name) {
			t.Fatalf("/i/%s is not an image path", name)
		}
	})
}
