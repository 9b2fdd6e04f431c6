package httpauth

import (
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		in, token string
		ok        bool
	}{
		{"Bearer abc.def-ghi_jkl~=", "abc.def-ghi_jkl~=", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"bEaReR abc", "abc", true},
		{"Bearer   abc  ", "abc", true},
		{"  Bearer\tabc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Basic abc", "", false},
		{"Bearer a b", "", false},
		{"abc", "", false},
		{"", "", false},
		{"Bearer, abc", "", false},
		{"XBearer abc", "", false},
		{"Bearer abc\r\n", "abc", true},
		{"Bearer ab\r\nc", "", false},
	} {
		token, ok := Bearer(tc.in)
		if token != tc.token || ok != tc.ok {
			t.Errorf("Bearer(%q) = %q %v, want %q %v", tc.in, token, ok, tc.token, tc.ok)
		}
	}
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  abc ", "Basic abc", "Bearer", "\tBEARER\tx.y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		token, ok := Bearer(h)
		if ok != (token != "") || strings.ContainsAny(token, " \t\r\n") {
			t.Fatalf("Bearer(%q) = %q %v", h, token, ok)
		}
		if ok {
			// The token is what follows the scheme, and reads back.
			if again, ok2 := Bearer("bearer " + token); !ok2 || again != token || !strings.Contains(h, token) {
				t.Fatalf("Bearer(%q) = %q does not round-trip", h, token)
			}
		}
	})
}
