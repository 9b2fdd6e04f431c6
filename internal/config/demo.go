package config

import (
	"crypto/rand"
	"time"

	"github.com/dropwire/dropwire/stdwebhooks"
)

// Demo ids, for the command and tests that drive the demo.
const (
	DemoCreator = "demo"
	DemoSource  = "demo-capture"
	DemoNode    = "demo-locker"
	DemoDrop    = "demo-drop"
	DemoSKU     = "sticker-pack"
)

// Demo builds the configuration of `dropwire demo`: creator "demo", a
// standard source "demo-capture" that may open data channels, a node
// "demo-locker" (its URL is left for the command, which runs the demo node),
// a drop "demo-drop" with 100 sticker packs, and no redis_url, so the
// volatile in-memory store is used. Every key, secret and the admin token
// are fresh random values; the caller shows them to the user as needed.
// The result has its defaults applied and has passed Validate.
func Demo() (*Config, error) {
	c := &Config{
		AdminToken: rand.Text(),
		Creators: []Creator{{
			ID:          DemoCreator,
			Name:        "Demo creator",
			OverlayKeys: []string{rand.Text()},
		}},
		Sources: []Source{{
			ID:      DemoSource,
			Creator: DemoCreator,
			Scheme:  SchemeStandard,
			Secrets: []string{newWhsec()},
			WebRTC:  true,
		}},
		Nodes: []Node{{
			ID:     DemoNode,
			Name:   "Demo locker",
			Region: "local",
			Secret: newWhsec(),
		}},
		Drops: []Drop{{
			ID:        DemoDrop,
			Creator:   DemoCreator,
			Title:     "Demo sticker pack",
			Window:    Duration(10 * time.Minute),
			QRRotate:  Duration(20 * time.Second),
			ScanGrace: Duration(40 * time.Second),
			Stock:     []StockLine{{Node: DemoNode, SKU: DemoSKU, Qty: 100}},
		}},
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// NewWebhookSecret returns a fresh Standard Webhooks secret: "whsec_" and
// the base64 of 32 random bytes.
func NewWebhookSecret() string { return stdwebhooks.NewSecret() }

func newWhsec() string { return stdwebhooks.NewSecret() }
