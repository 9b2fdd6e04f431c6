package fulfillment

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/dropwire/dropwire/internal/httpauth"
	"github.com/dropwire/dropwire/internal/problem"
)

// AdminHandlers returns the delivery admin API, guarded by the admin
// bearer token: GET /v1/admin/dlq, POST /v1/admin/dlq/{id}/replay (409
// claim_settled for a claim that must not be sent again) and POST
// /v1/admin/dlq/replay (which leaves those and lists them as "settled"),
// both listings narrowed to one node with ?node=; GET /v1/admin/nodes
// (each node's breaker, last attempts and dead-letter count) and GET
// /v1/admin/nodes/{node}/deliveries (its delivery log). Register each
// pattern with its handler.
func (s *Service) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/admin/dlq": s.admin(func(w http.ResponseWriter, r *http.Request) {
			node, ok := s.nodeFilter(w, r)
			if !ok {
				return
			}
			all, err := s.DeadLetters(r.Context())
			if err != nil {
				problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "could not read the dead letters")
				return
			}
			out := []DeadLetter{}
			for _, dl := range all {
				if node == "" || dl.Node == node {
					out = append(out, dl)
				}
			}
			writeJSON(w, http.StatusOK, map[string]any{"dead_letters": out, "count": len(out)})
		}),
		"POST /v1/admin/dlq/{id}/replay": s.admin(func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			err := s.Replay(r.Context(), id)
			var se *SettledError
			switch {
			case errors.Is(err, ErrNotFound):
				problem.Respond(w, http.StatusNotFound, "not_found", "no dead letter with this id")
			case errors.As(err, &se):
				problem.Write(w, problem.New(http.StatusConflict, "claim_settled",
					"claim "+se.Claim+" is "+se.State+": sending it again could give the viewer both the reward and the compensation; the dead letter is kept").
					With("claim", se.Claim).With("state", se.State))
			case err != nil:
				problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "could not replay")
			default:
				writeJSON(w, http.StatusAccepted, map[string]any{"replayed": 1, "id": id})
			}
		}),
		"POST /v1/admin/dlq/replay": s.admin(func(w http.ResponseWriter, r *http.Request) {
			node, ok := s.nodeFilter(w, r)
			if !ok {
				return
			}
			rep, err := s.ReplayNode(r.Context(), node)
			if err != nil {
				problem.Write(w, problem.New(http.StatusServiceUnavailable, "store_unavailable", "replay stopped").
					With("replayed", len(rep.Replayed)).With("ids", rep.Replayed).With("settled", rep.Settled))
				return
			}
			writeJSON(w, http.StatusAccepted, map[string]any{"replayed": len(rep.Replayed), "ids": rep.Replayed,
				"settled": rep.Settled})
		}),
		"GET /v1/admin/nodes": s.admin(func(w http.ResponseWriter, r *http.Request) {
			nodes, err := s.Nodes(r.Context())
			if err != nil {
				problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "could not read the nodes' deliveries")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
		}),
		"GET /v1/admin/nodes/{node}/deliveries": s.admin(func(w http.ResponseWriter, r *http.Request) {
			limit := AttemptLogSize
			if v := r.URL.Query().Get("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > AttemptLogSize {
					problem.Write(w, problem.New(http.StatusBadRequest, "invalid_limit",
						"limit must be a whole number from 1 to "+strconv.Itoa(AttemptLogSize)).With("limit", v))
					return
				}
				limit = n
			}
			node := r.PathValue("node")
			as, err := s.Deliveries(r.Context(), node, limit)
			switch {
			case errors.Is(err, ErrUnknownNode):
				problem.Write(w, problem.New(http.StatusNotFound, "unknown_node", "no fulfillment node with this id").With("node", node))
			case err != nil:
				problem.Respond(w, http.StatusServiceUnavailable, "store_unavailable", "could not read the deliveries")
			default:
				writeJSON(w, http.StatusOK, map[string]any{"node": node, "deliveries": as})
			}
		}),
	}
}

// nodeFilter reads the optional ?node= of the dead-letter routes; an
// unknown node is answered 404 unknown_node (ok false).
func (s *Service) nodeFilter(w http.ResponseWriter, r *http.Request) (node string, ok bool) {
	node = r.URL.Query().Get("node")
	if _, known := s.nodes[node]; node != "" && !known {
		problem.Write(w, problem.New(http.StatusNotFound, "unknown_node", "no fulfillment node with this id").With("node", node))
		return "", false
	}
	return node, true
}

// admin checks the bearer token in constant time (of the hashes, so the
// token's length does not leak either).
func (s *Service) admin(next http.HandlerFunc) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := httpauth.Bearer(r.Header.Get("Authorization"))
		got := sha256.Sum256([]byte(tok))
		if s.cfg.AdminToken == "" || !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dropwire-admin"`)
			problem.Respond(w, http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required")
			return
		}
		next(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
