package verifier

import "testing"

// What Dropwire acknowledges to the outside, a claim (201) and an event
// (202), waits for redis_wait_replicas; the rest does not need to.
func TestAcknowledgedScriptsAreReplicated(t *testing.T) {
	for _, s := range []struct {
		name string
		ok   bool
	}{{"claim", claimScript.IsReplicated()}, {"ingest", ingestScript.IsReplicated()},
		// A sharded claim: its reservation, a unit moved to it, its
		// commit, and the voids an undo stands on.
		{"claim-reserve", reserveScript.IsReplicated()}, {"stock-take", takeScript.IsReplicated()},
		{"claim-commit", commitScript.IsReplicated()}, {"claim-void", voidScript.IsReplicated()},
		{"stock-void-transfer", voidTransferScript.IsReplicated()}} {
		if !s.ok {
			t.Errorf("the %s script does not wait for replicas", s.name)
		}
	}
	if stockInitScript.IsReplicated() || claimReadScript.IsReplicated() || releaseScript.IsReplicated() || giveBackScript.IsReplicated() {
		t.Error("a script that acknowledges nothing waits for replicas")
	}
}
