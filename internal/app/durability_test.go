package app

import (
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// serve warns at start when Redis does not log writes to its append-only
// file, and says nothing when it does or when CONFIG is not allowed.
func TestAppendOnlyWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		warn bool
	}{
		{"appendonly no", []string{"--appendonly", "no"}, true},
		{"appendonly yes", []string{"--appendonly", "yes"}, false},
		{"CONFIG not allowed", []string{"--appendonly", "no", "--rename-command", "CONFIG", ""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Demo()
			if err != nil {
				t.Fatal(err)
			}
			cfg.RedisURL = storetest.PrivateRedis(t, tc.args...)
			var mu sync.Mutex
			var buf strings.Builder
			a, err := New(Options{Config: cfg, Logger: zerolog.New(lockedBuf{&mu, &buf})})
			if err != nil {
				t.Fatal(err)
			}
			_ = a.Shutdown(t.Context())
			mu.Lock()
			logs := buf.String()
			mu.Unlock()
			if got := strings.Contains(logs, "appendonly"); got != tc.warn {
				t.Fatalf("warned about appendonly: %v, want %v; log:\n%s", got, tc.warn, logs)
			}
			if strings.Contains(logs, `"level":"error"`) || strings.Contains(strings.ToLower(logs), "unknown command") {
				t.Fatalf("start logged an error:\n%s", logs)
			}
		})
	}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
