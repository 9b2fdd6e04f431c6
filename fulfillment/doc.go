// Package fulfillment forwards claims to fulfillment nodes, takes their
// signed callbacks, enforces the pickup SLA and compensates failed pickups.
//
// Delivery: every replica's [Service] reads the outbox streams of the drops
// with work (the backlog index, see backlog.go) as one consumer group
// ("forwarders"). A new entry is attempted at once; a failed attempt moves it into the drop's retry due-set (a sorted set
// of next-attempt times) and acknowledges it, so a retry survives a crash and
// never blocks other nodes. Due retries are leased atomically: a replica that
// dies mid-attempt loses its lease, and entries it read but never
// acknowledged are taken over with XAUTOCLAIM after the takeover idle time.
// Every attempt of one claim event carries the same webhook-id (the entry's
// event id), the node's idempotency key. Past the node's retry horizon an
// entry is dead-lettered and its claim becomes forward_failed, then
// compensated.
//
// Each attempt to a node goes to the node's delivery log in the store, with
// the attempting replica's breaker of the node (breakers are per replica,
// in memory), so the admin API of any replica shows every replica's
// attempts (see [Service.Nodes]). A writer of its own writes the log off
// the delivery path.
//
// Claim states move only forward (see [Allowed] and [Transition]); a late
// or repeated event is answered "unchanged" and an illegal one changes
// nothing. The one way back is an operator's: replaying a dead letter
// moves a forward_failed claim to forwarded, and refuses a claim that has
// settled (see [Service.Replay]). Every transition, including the SLA expiry and the compensation
// it triggers, is one atomic store script, so several replicas may race on
// the same claim and exactly one of them changes it.
//
// Callbacks (POST /v1/fulfillment/{node}/events) are verified with the
// node's Standard Webhooks secret before the body is parsed, and deduped on
// webhook-id inside the same atomic step that applies them.
//
// Hosted nodes (no url) are sent nothing: the forwarder moves their
// claims to forwarded with a pickup deadline, as a delivery would, and
// lists them for the node's pickup console ([Console], /n/{node}), whose
// actions are that node's callbacks through [Service.HandleCallback].
//
// Concurrency: a [Service] is safe for concurrent use by any number of
// goroutines and replicas sharing one store; its goroutines (poller,
// workers, wake-up subscription, SLA loop) are started by Run and stopped
// by Shutdown, which waits for them.
package fulfillment
