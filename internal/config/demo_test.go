package config

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatalf("Demo: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.RedisURL != "" {
		t.Errorf("redis_url = %q, want the memory store", c.RedisURL)
	}
	if len(c.AdminToken) < 16 {
		t.Errorf("admin token too short")
	}
	cr, ok := c.Creator(DemoCreator)
	if !ok || len(cr.OverlayKeys) != 1 || len(cr.OverlayKeys[0]) < 16 {
		t.Errorf("creator = %+v, %v", cr, ok)
	}
	s, ok := c.Source(DemoSource)
	if !ok || s.Scheme != SchemeStandard || !s.WebRTC || len(s.Secrets) != 1 || !strings.HasPrefix(s.Secrets[0], "whsec_") {
		t.Errorf("source = %+v, %v", s, ok)
	}
	n, ok := c.Node(DemoNode)
	if !ok || n.Name != "Demo locker" || n.Region != "local" || n.URL != "" || n.Secret == s.Secrets[0] {
		t.Errorf("node = %+v, %v", n, ok)
	}
	d, ok := c.Drop(DemoDrop)
	if !ok || d.Title != "Demo sticker pack" || d.Window.D() != 10*time.Minute || d.QRRotate.D() != 20*time.Second ||
		d.ScanGrace.D() != 40*time.Second || len(d.Stock) != 1 || d.Stock[0] != (StockLine{Node: DemoNode, SKU: DemoSKU, Tier: "standard", Qty: 100}) {
		t.Errorf("drop = %+v, %v", d, ok)
	}

	again, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if again.AdminToken == c.AdminToken || again.Sources[0].Secrets[0] == c.Sources[0].Secrets[0] || again.Creators[0].OverlayKeys[0] == cr.OverlayKeys[0] {
		t.Error("Demo reuses secrets across calls")
	}
}

func TestLookupsConcurrent(t *testing.T) {
	c := mustParse(t, base, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, ok := c.Creator("ava"); !ok {
					t.Error("Creator(ava) not found")
				}
				if _, ok := c.Source("vendor"); !ok {
					t.Error("Source(vendor) not found")
				}
				if _, ok := c.Node("shop"); !ok {
					t.Error("Node(shop) not found")
				}
				if _, ok := c.Drop("pack"); !ok {
					t.Error("Drop(pack) not found")
				}
				if _, ok := c.Drop("nope"); ok {
					t.Error("Drop(nope) found")
				}
			}
		})
	}
	wg.Wait()
}

func TestLookupWithoutIndex(t *testing.T) {
	c := &Config{Nodes: []Node{{ID: "a"}, {ID: "b"}}}
	if n, ok := c.Node("b"); !ok || n != &c.Nodes[1] {
		t.Errorf("Node(b) = %v, %v", n, ok)
	}
	c = mustParse(t, base, nil)
	c.Drops = append([]Drop{{ID: "first"}}, c.Drops...) // index now stale
	if d, ok := c.Drop("pack"); !ok || d.ID != "pack" {
		t.Errorf("Drop(pack) after change = %v, %v", d, ok)
	}
}
