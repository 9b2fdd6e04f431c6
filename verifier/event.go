package verifier

import (
	"encoding/json"
	"time"
)

// Channels an event can arrive on.
const (
	ChannelWebhook     = "webhook"
	ChannelDataChannel = "datachannel"
)

// Event types.
const (
	TypeDropTrigger   = "drop.trigger"
	TypeDropClose     = "drop.close"
	TypeStreamOnline  = "stream.online"
	TypeStreamOffline = "stream.offline"
)

// Event is one verified capture event, whatever channel it came on.
type Event struct {
	Source     string
	Channel    string
	ID         string
	Type       string
	Drop       string
	Moment     string
	OccurredAt time.Time
	Data       json.RawMessage
	// ReceivedAt is when Dropwire received the event; corroboration delays
	// are measured between these instants.
	ReceivedAt time.Time
}

// Source is what the verifier needs to know of the event's sender.
type Source struct {
	ID      string
	Creator string
	// Rate and Burst limit the source's events per second; Rate 0 means
	// no limit.
	Rate  int
	Burst int
}

// Ingest outcomes.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
)

// What an event did to its moment.
const (
	MomentOpened        = "opened"        // this event opened the drop
	MomentCorroboration = "corroboration" // a later report of the opening moment
	MomentPending       = "pending"       // counted towards the quorum; not open yet
	MomentIgnored       = "ignored"       // the drop was already opened by another moment, or closed
	MomentClosed        = "closed"        // a drop.close that closed the drop
	MomentRecorded      = "recorded"      // stream.* events: kept, no drop effect
)

// Result is the answer to one ingested event.
type Result struct {
	Status string  `json:"status"`
	Moment *Moment `json:"moment,omitempty"`
}

// Moment describes the event's moment and the drop state after the event.
type Moment struct {
	ID       string     `json:"id,omitempty"`
	Drop     string     `json:"drop,omitempty"`
	State    string     `json:"state,omitempty"`
	Sources  int        `json:"sources,omitempty"`
	Quorum   int        `json:"quorum,omitempty"`
	OpenedAt *time.Time `json:"opened_at,omitempty"`
	ClosesAt *time.Time `json:"closes_at,omitempty"`
	// DelayMS is, for a corroboration, how long after the opening report
	// this one arrived.
	DelayMS *int64 `json:"delay_ms,omitempty"`
}
