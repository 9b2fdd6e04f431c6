// Package web holds Dropwire's browser pages (overlay, claim, receipt and
// dashboard) as static files embedded in the binary: vanilla HTML, JS and
// CSS with no build step, served as they are.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sync"
)

// FS holds the static files, at the root: overlay.html, overlay.js,
// overlay.css, ...
//
//go:embed *.html *.js *.css
var FS embed.FS

// versions maps each file to the first 12 hex digits of its SHA-256.
var versions = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	entries, _ := fs.ReadDir(FS, ".")
	for _, e := range entries {
		b, err := fs.ReadFile(FS, e.Name())
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return out
})

// Version returns a short hash of a static file's content, "" for no
// such file: it changes whenever the file does.
func Version(name string) string { return versions()[name] }

// AssetURL is the URL a page names a static file by: /static/<name>?v=<Version>.
// The version makes the URL change with the file, so the static handler
// lets browsers keep it for a year.
func AssetURL(name string) string {
	if v := Version(name); v != "" {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
