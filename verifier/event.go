package verifier

import (
	"encoding/json"
	"strconv"
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

// AppendJSON appends r as JSON, as encoding/json would encode it, without
// reflection: this is the answer to every ingested event.
func (r Result) AppendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = strconv.AppendQuote(b, r.Status)
	if m := r.Moment; m != nil {
		b = append(b, `,"moment":{`...)
		sep := false
		field := func(name string) {
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
		}
		str := func(name, v string) {
			if v != "" {
				field(name)
				b = strconv.AppendQuote(b, v)
			}
		}
		str("id", m.ID)
		str("drop", m.Drop)
		str("state", m.State)
		if m.Sources != 0 {
			field("sources")
			b = strconv.AppendInt(b, int64(m.Sources), 10)
		}
		if m.Quorum != 0 {
			field("quorum")
			b = strconv.AppendInt(b, int64(m.Quorum), 10)
		}
		for _, t := range []struct {
			name string
			at   *time.Time
		}{{"opened_at", m.OpenedAt}, {"closes_at", m.ClosesAt}} {
			if t.at != nil {
				field(t.name)
				b = append(b, '"')
				b = t.at.AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			}
		}
		if m.DelayMS != nil {
			field("delay_ms")
			b = strconv.AppendInt(b, *m.DelayMS, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
