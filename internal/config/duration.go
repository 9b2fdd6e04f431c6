package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	_ yaml.Unmarshaler = (*Duration)(nil)
	_ yaml.Marshaler   = Duration(0)
)

// String formats d like time.Duration ("20s", "2h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts a Go duration string such as "20s", "2h", "1h30m" or
// "72h". A bare number is rejected: "30" could mean seconds or minutes, so
// the unit must be written.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration like 20s or 2h, got a %s", kindName(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText is UnmarshalYAML for flags (flag.TextVar) and JSON.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText writes d as a duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration; write one like 20s or 2h")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit; write e.g. %ss or %sm", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if strings.HasSuffix(s, "d") {
			return 0, fmt.Errorf("invalid duration %q: days are not a unit; write hours, e.g. 72h", clip(s))
		}
		return 0, fmt.Errorf("invalid duration %q: use a number and a unit (ns, us, ms, s, m, h), e.g. 20s or 1h30m", clip(s))
	}
	return Duration(v), nil
}

// clip shortens a value echoed in an error message.
func clip(s string) string {
	const limit = 40
	r := []rune(s)
	if len(r) <= limit {
		return s
	}
	return string(r[:limit]) + "…"
}
