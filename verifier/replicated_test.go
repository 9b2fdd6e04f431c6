package verifier

import "testing"

// What Dropwire acknowledges to the outside, a claim (201) and an event
// (202), waits for redis_wait_replicas; the rest does not need to.
func TestAcknowledgedScriptsAreReplicated(t *testing.T) {
	for _, s := range []struct {
		name string
		ok   bool
	}{{"claim", claimScript.IsReplicated()}, {"ingest", ingestScript.IsReplicated()}} {
		if !s.ok {
			t.Errorf("the %s script does not wait for replicas", s.name)
		}
	}
	if stockInitScript.IsReplicated() || claimReadScript.IsReplicated() {
		t.Error("a script that acknowledges nothing waits for replicas")
	}
}
