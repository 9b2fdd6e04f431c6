// Package images keeps the reward pictures creators upload through the
// admin API and serves them to claim pages: each image is stored once in
// the store under the SHA-256 of its bytes, so every replica serves it,
// and its URL (/i/<hash>.<ext>) never changes meaning, so browsers and
// CDNs may keep it for a year.
//
// Only PNG, JPEG, WebP and GIF are taken, recognised from the bytes
// themselves; SVG (which can carry script) and anything else is refused.
// Every function is safe for concurrent use.
package images
