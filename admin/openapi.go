package admin

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// openAPI is the OpenAPI 3.1 document of Dropwire's whole HTTP surface,
// written by hand; TestOpenAPICoversRoutes (internal/app) keeps it in step
// with the registered routes.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the document.
func OpenAPI() []byte { return openAPI }

// OpenAPIHandler serves GET /v1/openapi.json.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPI)
	})
}

// OpenAPIRoutes lists the document's operations as mux patterns
// ("GET /v1/claims/{id}"), sorted. A path item with "x-mux-pattern"
// (e.g. "/static/" for a subtree) is listed under that pattern.
func OpenAPIRoutes(doc []byte) ([]string, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var out []string
	for path, item := range d.Paths {
		pattern := path
		if raw, ok := item["x-mux-pattern"]; ok {
			_ = json.Unmarshal(raw, &pattern)
		}
		for m := range item {
			switch m {
			case "get", "post", "put", "patch", "delete", "options", "head":
				out = append(out, strings.ToUpper(m)+" "+pattern)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
