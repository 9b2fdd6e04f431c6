// Package web holds Dropwire's browser pages (overlay, and later claim,
// receipt and dashboard) as static files embedded in the binary: vanilla
// HTML, JS and CSS with no build step, served as they are.
package web

import "embed"

// FS holds the static files, at the root: overlay.html, overlay.js,
// overlay.css, ...
//
//go:embed *.html *.js *.css
var FS embed.FS
