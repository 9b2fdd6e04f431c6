package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "warn", FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hidden")
	log.Warn().Str("k", "v").Msg("shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON on a non-terminal: %v", err)
	}
	if m["message"] != "shown" || m["k"] != "v" || m["level"] != "warn" {
		t.Fatalf("line = %v", m)
	}

	buf.Reset()
	log, err = New(&buf, "", FormatConsole)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hello")
	if !strings.Contains(buf.String(), "hello") || strings.HasPrefix(buf.String(), "{") {
		t.Fatalf("console output = %q", buf.String())
	}

	if _, err := New(&buf, "loud", ""); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := New(&buf, "", "xml"); err == nil {
		t.Fatal("bad format accepted")
	}
}
