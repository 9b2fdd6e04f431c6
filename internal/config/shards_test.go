package config

import (
	"fmt"
	"testing"
)

// shards is 1 to 64; unset is one slot, as a drop was before sharding.
func TestDropShards(t *testing.T) {
	c := mustParse(t, base, nil)
	for _, tc := range []struct {
		shards *int
		want   int // ShardCount; 0: refused
	}{
		{nil, 1}, {ptr(1), 1}, {ptr(4), 4}, {ptr(64), 64},
		{ptr(0), 0}, {ptr(-1), 0}, {ptr(65), 0},
	} {
		name := "unset"
		if tc.shards != nil {
			name = fmt.Sprint(*tc.shards)
		}
		t.Run(name, func(t *testing.T) {
			d := &Drop{ID: "new", Creator: "ava", Shards: tc.shards, Stock: []StockLine{{Node: "shop", SKU: "x", Qty: 3}}}
			err := c.CheckDrop(d)
			if tc.want == 0 {
				checkProblems(t, "", problems(t, err), []want{{0, "drop.shards", "use 1 to 64"}})
				return
			}
			if err != nil {
				t.Fatalf("CheckDrop: %v", err)
			}
			if got := d.ShardCount(); got != tc.want {
				t.Errorf("ShardCount() = %d, want %d", got, tc.want)
			}
		})
	}
}

func ptr(n int) *int { return &n }
