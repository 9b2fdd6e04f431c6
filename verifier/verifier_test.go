package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dropwire/dropwire/internal/config"
	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

var (
	srcA     = Source{ID: "cap-a", Creator: "ava"}
	srcB     = Source{ID: "cap-b", Creator: "ava"}
	srcOther = Source{ID: "cap-z", Creator: "zed"}
)

func testDrop(id string, quorum int) config.Drop {
	return config.Drop{
		ID: id, Creator: "ava", Title: "Test drop",
		Window:       config.Duration(2 * time.Hour),
		Quorum:       quorum,
		QuorumWindow: config.Duration(10 * time.Second),
	}
}

func newVerifier(t *testing.T, st store.Store, drops ...config.Drop) *Verifier {
	t.Helper()
	v, err := New(Config{Store: st, Drops: NewCatalog(drops), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func trigger(src Source, id, drop, moment string, at time.Time) Event {
	return Event{Source: src.ID, Channel: ChannelWebhook, ID: id, Type: TypeDropTrigger, Drop: drop, Moment: moment, ReceivedAt: at}
}

func mustIngest(t *testing.T, v *Verifier, src Source, ev Event) Result {
	t.Helper()
	res, err := v.Ingest(context.Background(), src, ev)
	if err != nil {
		t.Fatalf("ingest %s: %v", ev.ID, err)
	}
	return res
}

// One moment delivered by 50 goroutines across two sources, each retrying
// three times: the drop opens exactly once, everything else is a duplicate
// or corroboration. Repeated 100 times on each store.
func TestIngestOneMomentOpensOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		for round := range 100 {
			drop := fmt.Sprintf("race-%d", round)
			v := newVerifier(t, st, testDrop(drop, 1))
			var (
				mu     sync.Mutex
				counts = map[string]int{}
				wg     sync.WaitGroup
				start  = make(chan struct{})
			)
			for g := range 50 {
				src := []Source{srcA, srcB}[g%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ev := trigger(src, fmt.Sprintf("evt-%d", g), drop, "m-42", time.Now())
					for range 4 { // the first delivery and three retries
						res, err := v.Ingest(context.Background(), src, ev)
						if err != nil {
							t.Errorf("ingest: %v", err)
							return
						}
						key := res.Status
						if res.Status == StatusAccepted {
							key = res.Moment.State
						}
						mu.Lock()
						counts[key]++
						mu.Unlock()
					}
				}()
			}
			close(start)
			wg.Wait()
			if counts[MomentOpened] != 1 || counts[MomentCorroboration] != 49 || counts[StatusDuplicate] != 150 || len(counts) != 3 {
				t.Fatalf("round %d: outcomes %v, want opened 1, corroboration 49, duplicate 150", round, counts)
			}
			s, err := v.State(context.Background(), drop)
			if err != nil || s.Status != StatusOpen || s.Moment != "m-42" || s.Seq != 1 {
				t.Fatalf("round %d: state %+v, %v", round, s, err)
			}
			reports, err := v.Reports(context.Background(), drop, "m-42")
			if err != nil || len(reports) != 50 {
				t.Fatalf("round %d: %d reports, %v", round, len(reports), err)
			}
		}
	})
}

// With quorum 2, one source alone never opens, however often it reports.
func TestIngestQuorum(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		v := newVerifier(t, st, testDrop("q", 2))
		t0 := time.Now()
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := v.Ingest(context.Background(), srcA, trigger(srcA, fmt.Sprintf("a-%d", g), "q", "m-1", t0))
				if err != nil || res.Moment.State != MomentPending || res.Moment.Sources != 1 {
					t.Errorf("source A alone: %+v %v", res.Moment, err)
				}
			}()
		}
		wg.Wait()
		if s, _ := v.State(context.Background(), "q"); s.Status != StatusIdle {
			t.Fatalf("one source opened a quorum-2 drop: %+v", s)
		}
		// The second source outside the quorum window does not complete it...
		late := t0.Add(11 * time.Second)
		if res := mustIngest(t, v, srcB, trigger(srcB, "b-late", "q", "m-1", late)); res.Moment.State != MomentPending {
			t.Fatalf("second source after the window: %+v", res.Moment)
		}
		// ...but A reporting again within the window of B's first report
		// counts A's first report only, so it is still one source in window.
		if res := mustIngest(t, v, srcA, trigger(srcA, "a-again", "q", "m-1", late.Add(time.Second))); res.Moment.State != MomentPending {
			t.Fatalf("repeat of a source outside the window: %+v", res.Moment)
		}
		// A different moment with both sources inside the window opens.
		t1 := late.Add(time.Minute)
		if res := mustIngest(t, v, srcA, trigger(srcA, "a-m2", "q", "m-2", t1)); res.Moment.State != MomentPending {
			t.Fatalf("first source of m-2: %+v", res.Moment)
		}
		res := mustIngest(t, v, srcB, trigger(srcB, "b-m2", "q", "m-2", t1.Add(3*time.Second)))
		if res.Moment.State != MomentOpened || res.Moment.Sources != 2 || res.Moment.Quorum != 2 {
			t.Fatalf("second source within the window: %+v", res.Moment)
		}
		if !res.Moment.OpenedAt.Equal(t1.Add(3 * time.Second).Truncate(time.Millisecond)) {
			t.Fatalf("opened_at = %v", res.Moment.OpenedAt)
		}
	})
}

func TestIngestLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		v := newVerifier(t, st, testDrop("life", 1))
		t0 := time.Now().Truncate(time.Millisecond)

		res := mustIngest(t, v, srcA, trigger(srcA, "e1", "life", "m-1", t0))
		if res.Status != StatusAccepted || res.Moment.State != MomentOpened {
			t.Fatalf("first report: %+v", res.Moment)
		}
		if !res.Moment.ClosesAt.Equal(t0.Add(2 * time.Hour)) {
			t.Fatalf("closes_at = %v, want opened_at + window", res.Moment.ClosesAt)
		}
		corr := trigger(srcB, "e2", "life", "m-1", t0.Add(1500*time.Millisecond))
		corr.Channel = ChannelDataChannel
		res = mustIngest(t, v, srcB, corr)
		if res.Moment.State != MomentCorroboration || res.Moment.DelayMS == nil || *res.Moment.DelayMS != 1500 {
			t.Fatalf("corroboration: %+v", res.Moment)
		}
		if !res.Moment.OpenedAt.Equal(t0) {
			t.Fatalf("corroboration moved opened_at: %v", res.Moment.OpenedAt)
		}
		res = mustIngest(t, v, srcA, trigger(srcA, "e3", "life", "m-other", t0.Add(2*time.Second)))
		if res.Moment.State != MomentIgnored {
			t.Fatalf("another moment on an open drop: %+v", res.Moment)
		}
		reports, err := v.Reports(ctx, "life", "m-1")
		if err != nil || len(reports) != 2 {
			t.Fatalf("reports = %+v, %v", reports, err)
		}
		if r := reports[1]; r.Source != srcB.ID || r.Channel != ChannelDataChannel || r.Delay != 1500*time.Millisecond || r.State != MomentCorroboration {
			t.Fatalf("corroboration report = %+v", r)
		}

		closeEv := Event{Source: srcA.ID, Channel: ChannelWebhook, ID: "e4", Type: TypeDropClose, Drop: "life", ReceivedAt: t0.Add(time.Minute)}
		if res = mustIngest(t, v, srcA, closeEv); res.Moment.State != MomentClosed {
			t.Fatalf("close: %+v", res.Moment)
		}
		s, _ := v.State(ctx, "life")
		if s.Status != StatusClosed || s.Seq != 2 {
			t.Fatalf("after close: %+v", s)
		}
		// A closed drop never opens again.
		if res = mustIngest(t, v, srcA, trigger(srcA, "e5", "life", "m-9", t0.Add(2*time.Minute))); res.Moment.State != MomentIgnored {
			t.Fatalf("trigger after close: %+v", res.Moment)
		}

		online := Event{Source: srcA.ID, Channel: ChannelWebhook, ID: "e6", Type: TypeStreamOnline, ReceivedAt: t0}
		if res = mustIngest(t, v, srcA, online); res.Status != StatusAccepted || res.Moment != nil {
			t.Fatalf("stream.online: %+v", res)
		}
		if res = mustIngest(t, v, srcA, online); res.Status != StatusDuplicate {
			t.Fatalf("stream.online retry: %+v", res)
		}
	})
}

// An open drop past closes_at reads as closed.
func TestStateClosesByTime(t *testing.T) {
	st := storetest.Memory(t)
	now := time.Now()
	d := testDrop("short", 1)
	d.Window = config.Duration(time.Minute)
	v, err := New(Config{Store: st, Drops: NewCatalog([]config.Drop{d}), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mustIngest(t, v, srcA, trigger(srcA, "e1", "short", "m", now))
	if s, _ := v.State(context.Background(), "short"); s.Status != StatusOpen {
		t.Fatalf("status = %s", s.Status)
	}
	now = now.Add(time.Minute)
	if s, _ := v.State(context.Background(), "short"); s.Status != StatusClosed {
		t.Fatalf("status past closes_at = %s", s.Status)
	}
}

func TestIngestRejects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		v := newVerifier(t, st, testDrop("mine", 1))
		t0 := time.Now()
		tests := []struct {
			name string
			src  Source
			ev   Event
			want error
		}{
			{"unknown drop", srcA, trigger(srcA, "x1", "nope", "m", t0), ErrUnknownDrop},
			{"drop of another creator", srcOther, trigger(srcOther, "x2", "mine", "m", t0), ErrForbiddenDrop},
			{"no event id", srcA, trigger(srcA, "", "mine", "m", t0), ErrInvalidEvent},
			{"unknown type", srcA, Event{ID: "x3", Type: "drop.explode", Drop: "mine"}, ErrInvalidEvent},
			{"trigger without drop", srcA, trigger(srcA, "x4", "", "m", t0), ErrInvalidEvent},
		}
		for _, tt := range tests {
			if _, err := v.Ingest(ctx, tt.src, tt.ev); !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			}
		}
		if s, _ := v.State(ctx, "mine"); s.Status != StatusIdle || s.Seq != 0 {
			t.Fatalf("rejected events changed the drop: %+v", s)
		}
	})
}

// A source over its rate gets a RateLimitError with a retry time, and the
// refused event is not marked, so its retry is processed later.
func TestIngestRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		v := newVerifier(t, st, testDrop("rl", 1))
		src := Source{ID: "cap-a", Creator: "ava", Rate: 2, Burst: 3}
		t0 := time.Now()
		for i := range 3 {
			if _, err := v.Ingest(ctx, src, trigger(src, fmt.Sprintf("r%d", i), "rl", "m", t0)); err != nil {
				t.Fatalf("within burst: %v", err)
			}
		}
		over := trigger(src, "r3", "rl", "m", t0)
		_, err := v.Ingest(ctx, src, over)
		var rl *RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
			t.Fatalf("over the rate: %v", err)
		}
		over.ReceivedAt = t0.Add(rl.RetryAfter)
		res, err := v.Ingest(ctx, src, over)
		if err != nil || res.Status != StatusAccepted {
			t.Fatalf("retry after Retry-After: %+v %v", res, err)
		}
	})
}

// A store that does not answer fails the event with store.ErrUnavailable
// and leaves nothing behind.
func TestIngestStoreDown(t *testing.T) {
	st, err := store.NewRedis(store.RedisConfig{URL: "redis://127.0.0.1:1/0", Prefix: storetest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	v := newVerifier(t, st, testDrop("down", 1))
	_, err = v.Ingest(context.Background(), srcA, trigger(srcA, "e", "down", "m", time.Now()))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err = %v, want store.ErrUnavailable", err)
	}
}

// AppendJSON writes what encoding/json would.
func TestResultAppendJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 0, 0, 123e6, time.UTC)
	later := at.Add(time.Hour)
	delay := int64(1500)
	for _, r := range []Result{
		{Status: StatusDuplicate},
		{Status: StatusDuplicate, Moment: &Moment{ID: "m", Drop: "d", OpenedAt: &at, ClosesAt: &later}},
		{Status: StatusAccepted, Moment: &Moment{ID: `m"1\`, Drop: "d", State: MomentCorroboration, OpenedAt: &at, ClosesAt: &later, DelayMS: &delay}},
		{Status: StatusAccepted, Moment: &Moment{ID: "m", Drop: "d", State: MomentPending, Sources: 1, Quorum: 2}},
	} {
		want, _ := json.Marshal(r)
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON = %s\n  json.Marshal = %s", got, want)
		}
	}
}
