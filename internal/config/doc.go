// Package config reads, checks and serves Dropwire's configuration: the
// process settings (listen address, public URL, Redis, logging) and the
// creators, capture-SDK sources, fulfillment nodes and drops.
//
// # Reading
//
// [Load] reads one YAML file; [Parse] does the same from bytes. Reading is
// strict and reports everything wrong in one [*Error], one [Problem] per
// line as "file:line: path: message":
//
//	dropwire.yaml:14: sources[0].secrets[1]: whsec_ secret does not decode: illegal base64 data at input byte 3
//
// That is: YAML syntax; every unknown key (top-level keys starting with
// "x-" are allowed, as a home for YAML anchors); values of the wrong type;
// unset environment variables; and every validation rule (see
// [Config.Validate]). A problem is located at its value's line, or at the
// line of its key or enclosing item when the value is missing. Messages
// never contain secrets: they name the field instead.
//
// A value may reference environment variables as ${NAME}, NAME matching
// [A-Za-z_][A-Za-z0-9_]*; other "$" are kept as written. References are
// expanded inside each parsed value, so a variable's content can never
// change the YAML around it and line numbers are those of the file;
// references in comments are ignored. An unset variable is an error, "${NAME}
// is not set", at its line. A plain value is typed after expansion, so
// "max_body: ${MAX_BODY}" may hold a number. YAML anchors, aliases and merge
// keys ("<<") work as usual.
//
// Process settings are then overridden by DROPWIRE_* variables
// ([Config.ApplyEnv]) and, last, by the command's flags.
//
// # Defaults
//
// [Config.ApplyDefaults] fills what the file leaves out:
//
//	listen            ":8080"
//	public_url        derived from listen: "http://localhost:8080" for ":8080";
//	                  a trailing "/" is removed
//	key_prefix        "dw:"
//	log_level         "info"
//	log_format        "" (the command picks: console on a terminal, json otherwise)
//	max_body          65536 bytes
//	dedupe_ttl        72h (the senders' retry horizon)
//	shutdown_timeout  10s
//	read_timeout      10s (a request body must arrive within it after its headers)
//	trusted_proxies   none: the client is always the TCP peer
//	redis_url         none: the volatile in-memory store
//	pubsub_partitions 16 (shard channels per announcement channel on a Redis Cluster)
//	redis_wait_replicas 0: claims and events are acknowledged once the Redis master holds them
//	redis_wait_timeout  200ms (how long a claim or event waits for redis_wait_replicas replicas)
//	viewer_secret     none: generated once and kept in the store
//	receipt_ttl       168h (7 days)
//	receipt_key_rotate 24h
//	claim_rate_ip     20 claim attempts per second (burst 60); -1: no limit
//	claim_rate_device 2 per second (burst 6); -1: no limit
//	claim_pow_bits    0: no proof of work on claims
//	forward_workers   16 concurrent deliveries to nodes per replica
//	forward_tick      250ms (outbox poll when no claim announcement wakes it)
//	forward_takeover  30s (unacknowledged entries of a dead replica are taken over)
//	sla_tick          1s (pickup deadline check)
//
//	sources[].tolerance   5m; 10m for scheme twitch-eventsub (Twitch's own limit)
//	sources[].rate        50 events per second
//	sources[].burst       twice the rate (100 by default)
//	sources[].algorithms  jwt only: HS256 when the source has secrets, plus
//	                      ES256 and EdDSA when it has jwks or public keys
//	                      (ES256 and EdDSA when it has neither)
//	sources[].jwks        jwt only: the one entry of public_keys that is not a
//	                      whpk_ key, as the documented example writes it
//
//	nodes[].pickup_sla    4h
//	nodes[].timeout       10s (each delivery attempt; shorter than forward_takeover)
//	nodes[].retry_base    1s, doubling per attempt, full jitter
//	nodes[].retry_max     10m (the largest wait between attempts)
//	nodes[].retry_horizon 24h after the claim; then dead-letter
//	nodes[].breaker_failures 5 consecutive failures open the breaker
//	nodes[].breaker_cooldown 30s before a probe is let through
//
//	drops[].window        2h
//	drops[].qr_rotate     20s
//	drops[].scan_grace    40s
//	drops[].quorum        1
//	drops[].quorum_window 10s
//	drops[].per_viewer    1
//	drops[].identity      device
//	drops[].compensation  kind none
//	drops[].stock[].tier  "standard"
//
// Integers are defaulted when zero. A duration is defaulted only when it is
// absent: an explicit "0s" is an error, as is a bare number without a unit.
//
// # Concurrency
//
// A Config is built and adjusted by one goroutine (Parse, ApplyEnv, the
// Set… methods, Validate), then only read: after that it is safe for
// concurrent use, including the lookups [Config.Creator], [Config.Source],
// [Config.Node] and [Config.Drop], which use maps built once by Validate.
package config
