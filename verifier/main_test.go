package verifier

import (
	"os"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestMain checks, after the tests, that every script of the package ran
// on the test Redis Cluster with the keys of one slot.
func TestMain(m *testing.M) { os.Exit(storetest.ScriptCheck(m).Run()) }
