package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// Overlay settings through the admin API, on Redis: a bad field gets a
// 422 problem naming it and changes nothing; a good body is stored, read
// back with every default spelled out, and defaults are not stored.
func TestOverlaySettingsAPI(t *testing.T) {
	a, srv := adminApp(t, nil, storetest.Redis(t))
	tok := a.Config().AdminToken
	path := "/v1/admin/creators/demo/overlay-settings"
	type view struct {
		Creator  string         `json:"creator"`
		Settings map[string]any `json:"settings"`
		Limits   map[string]int `json:"limits"`
	}

	var v view
	if code := adminCall(t, srv, tok, "GET", path, nil, &v); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if v.Settings["position"] != "br" || v.Settings["qr_size"] != 280.0 || v.Settings["call_to_action"] != "Scan to claim" ||
		v.Limits["qr_size_min"] != 160 || v.Limits["qr_size_max"] != 600 {
		t.Fatalf("defaults: %+v", v)
	}

	good := map[string]any{"position": "tl", "qr_size": 200, "theme": "light", "brand": "#FF3366",
		"call_to_action": "  Grab one!  ", "hide_stock": true, "message_seconds": 10}
	if code := adminCall(t, srv, tok, "PUT", path, good, &v); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if v.Settings["position"] != "tl" || v.Settings["qr_size"] != 200.0 || v.Settings["brand"] != "#ff3366" ||
		v.Settings["call_to_action"] != "Grab one!" || v.Settings["hide_stock"] != true || v.Settings["hide_countdown"] != nil {
		t.Fatalf("PUT answered %+v", v.Settings)
	}

	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"position": "middle"}, "position"},
		{map[string]any{"qr_size": 159}, "qr_size"},
		{map[string]any{"qr_size": 601}, "qr_size"},
		{map[string]any{"theme": "neon"}, "theme"},
		{map[string]any{"brand": "red"}, "brand"},
		{map[string]any{"title_lines": 3}, "title_lines"},
		{map[string]any{"call_to_action": strings.Repeat("x", 41)}, "call_to_action"},
		{map[string]any{"sold_out_text": "two\nlines"}, "sold_out_text"},
		{map[string]any{"message_seconds": 31}, "message_seconds"},
		{map[string]any{"x": "10px"}, "y"},
		{map[string]any{"x": "10em", "y": "5px"}, "x"},
		{map[string]any{"x": "10%", "y": "101%"}, "y"},
	} {
		var p map[string]any
		code := adminCall(t, srv, tok, "PUT", path, tc.body, &p)
		if code != http.StatusUnprocessableEntity || p["code"] != "invalid_overlay_settings" || p["field"] != tc.field {
			t.Errorf("PUT %v: %d %v; want 422 naming %s", tc.body, code, p, tc.field)
		}
	}
	if code := adminCall(t, srv, tok, "GET", path, nil, &v); code != 200 || v.Settings["position"] != "tl" || v.Settings["qr_size"] != 200.0 {
		t.Fatalf("a refused PUT changed the settings: %d %+v", code, v.Settings)
	}
	var p map[string]any
	if code := adminCall(t, srv, tok, "PUT", "/v1/admin/creators/nobody/overlay-settings", good, &p); code != 404 {
		t.Fatalf("unknown creator: %d %v", code, p)
	}

	// Back to the defaults: nothing but {} is stored.
	if code := adminCall(t, srv, tok, "PUT", path, map[string]any{"position": "br", "qr_size": 280, "call_to_action": "Scan to claim"}, &v); code != 200 {
		t.Fatal(code)
	}
	raw, err := a.store.Get(t.Context(), "{c:demo}:overlay:settings")
	if err != nil || raw != "{}" {
		t.Fatalf("stored %q %v; want {}", raw, err)
	}
}
