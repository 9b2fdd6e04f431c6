package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationUnmarshalYAML(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"20s", 20 * time.Second, ""},
		{"2h", 2 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"72h", 72 * time.Hour, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{`"10m"`, 10 * time.Minute, ""},
		{"-5s", -5 * time.Second, ""}, // parsed; Validate rejects it
		{"30", 0, `duration "30" has no unit; write e.g. 30s or 30m`},
		{"0", 0, `duration "0" has no unit`},
		{"1.5", 0, "has no unit"},
		{"3d", 0, "days are not a unit; write hours, e.g. 72h"},
		{"soon", 0, `invalid duration "soon": use a number and a unit`},
		{"5 minutes", 0, "invalid duration"},
		{`""`, 0, "empty duration"},
		{"[1s]", 0, "expected a duration like 20s or 2h, got a list"},
		{"{a: 1}", 0, "got a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tc.in), &n); err != nil {
				t.Fatal(err)
			}
			var d Duration
			err := d.UnmarshalYAML(n.Content[0])
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case d.D() != tc.want:
				t.Errorf("= %v, want %v", d.D(), tc.want)
			}
		})
	}
}

func TestDurationRoundTrip(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
	}
	out, err := yaml.Marshal(doc{Duration(90 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "d: 1h30m0s\n" {
		t.Errorf("Marshal = %q", out)
	}
	var back doc
	if err := yaml.Unmarshal(out, &back); err != nil || back.D.D() != 90*time.Minute {
		t.Errorf("Unmarshal = %v, %v", back.D, err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("45s")); err != nil || d.D() != 45*time.Second {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "45s" {
		t.Errorf("MarshalText = %q", b)
	}
}
