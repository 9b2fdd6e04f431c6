package app

import (
	"os"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// TestMain checks, after the tests, that every script they ran on the test
// Redis Cluster kept to one slot, and that the admin API's scripts, which
// these tests drive through the whole app, all ran there.
func TestMain(m *testing.M) { os.Exit(storetest.ScriptCheck(m, "admin").Run()) }
