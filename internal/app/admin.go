package app

import (
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/dropwire/dropwire/admin"
	"github.com/dropwire/dropwire/internal/images"
	"github.com/dropwire/dropwire/verifier"
	"github.com/dropwire/dropwire/web"
)

// replicaSeq numbers the Apps of this process.
var replicaSeq atomic.Uint64

// wireAdmin builds the admin API (/v1/admin/...), the OpenAPI document
// and the dashboard page, and starts the admin loops (drop sync across
// replicas, overlay-count heartbeat; stopped on shutdown). It must run
// after wireIngest (catalog, verifier) and before the server serves.
func (a *App) wireAdmin() error {
	host, _ := os.Hostname()
	adm, err := admin.New(admin.Config{
		Store:    a.store,
		Config:   a.cfg,
		Drops:    a.drops,
		Verifier: a.verifier,
		Pools:    a.pools,
		// Campaigns created through the API join the file's.
		Campaigns:   a.campaigns,
		CampaignLog: a.campaignLog,
		// Test drops post their signed trigger through the whole server,
		// middleware included, as a capture SDK's request would go.
		Ingress:  a.server.Handler(),
		Overlays: a.hub.Overlays,
		// Unique per App, so that two in one process (tests) count apart.
		Replica: host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(replicaSeq.Add(1), 10),
		Logger:  a.log.With().Str("component", "admin").Logger(),
	})
	if err != nil {
		return err
	}
	a.keys = adm.Keys()
	adm.Register(a.server.Handle)
	page, err := fs.ReadFile(web.FS, "dashboard.html")
	if err != nil {
		return err
	}
	a.server.Handle("GET /dashboard", admin.PageHandler(page))
	a.server.Handle("GET /v1/openapi.json", admin.OpenAPIHandler())
	// Reward pictures uploaded through the admin API, for claim pages.
	a.server.Handle("GET "+images.Prefix+"{name}", images.Handler(a.store))
	adm.Run()
	a.server.OnShutdown("admin", adm.Shutdown)
	return nil
}

// overlayKeys is the overlay hub's key lookup: the configured keys until a
// rotation through the admin API, then the rotated keys (old ones during
// their grace period).
func (a *App) overlayKeys(creator string) ([]string, bool) {
	if a.keys != nil {
		return a.keys.Keys(creator)
	}
	c, ok := a.cfg.Creator(creator)
	if !ok {
		return nil, false
	}
	return c.OverlayKeys, true
}

// Drops returns the drop catalog (the demo's terminal QR reads it).
func (a *App) Drops() *verifier.Catalog { return a.drops }
