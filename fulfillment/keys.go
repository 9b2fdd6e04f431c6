package fulfillment

import "github.com/dropwire/dropwire/internal/store"

// Store layout. Everything about one claim lives under its drop's hash tag,
// so each script below touches one Redis Cluster slot.
//
//	{d:<drop>}:claim:<id>           claim hash (written by verifier.Claims)
//	{d:<drop>}:claim:<id>:history   "state\tms" list
//	{d:<drop>}:outbox               outbox stream, consumer group "forwarders"
//	{d:<drop>}:pickup               "<node>:<code>" → claim id
//	{d:<drop>}:fwd:due              retry due-set: event id → next attempt ms
//	{d:<drop>}:fwd:retry            event id → retry record (JSON)
//	{d:<drop>}:dlq                  event id → dead letter (JSON)
//	{d:<drop>}:sla                  pickup deadlines: claim id → pickup_by ms
//	{d:<drop>}:comp:pool            compensation codes not handed out yet
//	{d:<drop>}:comp:codes           every code the pool ever held (set)
//	{d:<drop>}:comp:loaded          set once the pool file is loaded
//	{d:<drop>}:cb:<node>:<id>       callback dedupe mark (webhook-id)
//	fulfillment:node:<id>:disabled  set when a node answered 410 Gone
//	fulfillment:{n:<id>}:attempts   delivery log: Attempt JSON, oldest first, capped
//	fulfillment:{n:<id>}:breaker    replica → its breaker report (JSON)
func claimKey(drop, id string) string   { return store.DropKey(drop, "claim", id) }
func historyKey(drop, id string) string { return store.DropKey(drop, "claim", id, "history") }
func outboxKey(drop string) string      { return store.DropKey(drop, "outbox") }
func pickupKey(drop string) string      { return store.DropKey(drop, "pickup") }
func dueKey(drop string) string         { return store.DropKey(drop, "fwd", "due") }
func retryKey(drop string) string       { return store.DropKey(drop, "fwd", "retry") }
func dlqKey(drop string) string         { return store.DropKey(drop, "dlq") }
func slaKey(drop string) string         { return store.DropKey(drop, "sla") }
func poolKey(drop string) string        { return store.DropKey(drop, "comp", "pool") }
func poolLoadedKey(drop string) string  { return store.DropKey(drop, "comp", "loaded") }
func poolCodesKey(drop string) string   { return store.DropKey(drop, "comp", "codes") }
func stateKey(drop string) string       { return store.DropKey(drop, "state") }
func callbackKey(drop, node, id string) string {
	return store.DropKey(drop, "cb", node, id)
}
func disabledKey(node string) string { return "fulfillment:node:" + node + ":disabled" }
func attemptsKey(node string) string { return "fulfillment:{n:" + node + "}:attempts" }
func breakerKey(node string) string  { return "fulfillment:{n:" + node + "}:breaker" }

// Group is the consumer group every replica's forwarder reads outboxes in.
const Group = "forwarders"

// Outbox entry types.
const (
	TypeClaimCreated     = "claim.created"
	TypeClaimCompensated = "claim.compensated"
)
