// Package verifier is Dropwire's domain core: capture events, their dedupe,
// claim moments and the drop state they drive.
//
// Every verified event, from a signed webhook or a WebRTC data channel,
// enters through [Verifier.Ingest]. One atomic store script per event
// dedupes it on (source, event id), applies the source's rate limit and
// advances the drop: the first verified report of a moment (or the N-th
// distinct source within the quorum window) opens the drop exactly once;
// every later report is kept as corroboration with its delay. Because the
// dedupe mark and the effect are written by the same script, an event is
// either wholly applied or not at all, so a sender's retry after a failure
// is never mistaken for a duplicate.
//
// Concurrency: a Verifier is safe for concurrent use by any number of
// goroutines and replicas sharing one store.
package verifier
