package config

import (
	"strconv"
	"strings"
)

// Money is an amount of one currency, written as a node reports a sale:
// a decimal with at most 2 decimals ("2.50", a number or a string in
// YAML) and an ISO 4217 code ("EUR").
type Money struct {
	Amount   string `yaml:"amount"`
	Currency string `yaml:"currency"`
}

// IsZero reports whether m is unset: no amount and no currency.
func (m Money) IsZero() bool { return m.Amount == "" && m.Currency == "" }

// Minor is m's amount in minor units (cents); ok is false when the amount
// does not read (see ParseMinor).
func (m Money) Minor() (n int64, ok bool) { return ParseMinor(m.Amount) }

// ParseMinor reads a decimal amount of money that is not negative ("12.5",
// "12.50", "3", "0") into minor units: at most 2 decimals, below 10^12.
func ParseMinor(s string) (int64, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || (dot && (frac == "" || len(frac) > 2)) {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

// FormatMinor writes minor units of money as a decimal with 2 places:
// 1250 is "12.50".
func FormatMinor(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	cents := strconv.FormatInt(n%100, 10)
	if len(cents) < 2 {
		cents = "0" + cents
	}
	return sign + strconv.FormatInt(n/100, 10) + "." + cents
}

// ValidCurrency reports whether s has an ISO 4217 code's shape: three
// upper-case letters.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
