package overlay

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The capture → overlay figure counts only moments that reached an
// overlay already connected when they opened: an overlay that connects
// long after a moment gets its first frame then, which says nothing about
// how fast the moment reached the stream.
func TestFrameRecordedOnlyForWatchedMoments(t *testing.T) {
	st := storetest.Redis(t)
	e := newEnv(t, st, nil, testDrop("late"), testDrop("watched"))
	ctx := context.Background()

	// Nobody watches when "late" opens; an overlay connects afterwards.
	e.trigger(t, "late", "evt-late")
	time.Sleep(300 * time.Millisecond)
	late := e.dial(t)
	late.until(func(s State) bool { return s.Status == StatusOpen && s.Drop.ID == "late" })

	// The same overlay is connected when "watched" opens.
	e.trigger(t, "watched", "evt-watched")
	opened := time.Now()
	late.until(func(s State) bool { return s.Status == StatusOpen && s.Drop.ID == "watched" })

	// The record is written in the background once the frame has left.
	var v string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if v, err = st.Get(ctx, FrameKey("watched", "m-evt-watched")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frame of a watched moment not recorded: %v", err)
		}
	}
	// Shutdown waits for every background write: none for "late".
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.hub.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if v, err := st.Get(ctx, FrameKey("late", "m-evt-late")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("frame of a moment no overlay watched recorded: %q %v", v, err)
	}
	at, _ := strconv.ParseInt(v, 10, 64)
	state, err := e.v.State(ctx, "watched")
	if err != nil {
		t.Fatal(err)
	}
	if lag := at - state.OpenedAt.UnixMilli(); lag < 0 || at > time.Now().UnixMilli() || time.UnixMilli(at).Before(opened.Add(-time.Second)) {
		t.Fatalf("frame recorded at %d, opened at %d (lag %d ms)", at, state.OpenedAt.UnixMilli(), lag)
	}
}
