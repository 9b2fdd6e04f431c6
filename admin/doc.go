// Package admin is Dropwire's operator and creator API (/v1/admin/...),
// the OpenAPI document of the whole HTTP surface (/v1/openapi.json) and the
// dashboard page (/dashboard).
//
// Every /v1/admin/ route needs the admin bearer token, compared in constant
// time; with no admin token configured every such route answers 401: the
// API is never open.
//
// Drops created through the API are validated like drops of the file
// (config.CheckDrop), written to the store and announced on pub/sub, so
// every replica adds them to its catalog; a periodic resync repairs a lost
// announcement. Closing a drop goes through the verifier, so overlays
// update as for a capture SDK's drop.close. The "test drop" copies a drop
// into a sandbox drop and opens it through the real signed webhook path.
//
// Overlay keys rotate through [KeyRing]: the new key is stored, and the
// previous keys keep working for a grace period (DefaultKeyGrace, 10 min)
// so an OBS scene can be updated without a blank overlay.
//
// Concurrency: an [Admin] is safe for concurrent use. Run starts its two
// goroutines (the catalog sync and the overlay-count heartbeat); Shutdown
// stops them and waits.
package admin
