// Package httpauth reads credentials from an HTTP Authorization header, the
// same way for every endpoint that takes a bearer token: admin, fulfillment
// admin, data-channel signaling, receipts and viewer tokens. It is pure
// and safe for concurrent use.
package httpauth

import "strings"

// Bearer returns the token of an Authorization header value of the form
// "Bearer <token>". The scheme is case-insensitive (RFC 9110, 11.1), and
// the whitespace before, between and after is ignored; ok is false for
// another scheme, a missing or empty token, or a token with whitespace in
// it (a token68 has none).
func Bearer(authorization string) (token string, ok bool) {
	s := strings.TrimSpace(authorization)
	i := strings.IndexAny(s, " \t")
	if i < 0 || !strings.EqualFold(s[:i], "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(s[i:])
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", false
	}
	return token, true
}
