// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package health

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The draining answer itself needs a server whose shutdown is scheduled, which only Caddy can make: it is
// tested end to end in caddymodules/integration (TestHealthFailsWhileShuttingDown, and the rolling restart
// of TestScaleOutRollingRestart). Here: a request without a server, or without a replacer, is live.
func TestLivenessWhenNotShuttingDown(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(*http.Request) *http.Request
	}{
		{"prepared without a server", func(r *http.Request) *http.Request {
			return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
		}},
		{"server not shutting down", func(r *http.Request) *http.Request {
			return caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, new(caddyhttp.Server))
		}},
		{"server without a replacer", func(r *http.Request) *http.Request {
			return r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, new(caddyhttp.Server)))
		}},
		{"bare request", func(r *http.Request) *http.Request { return r }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := new(HealthHandler)
			w := httptest.NewRecorder()
			req := tc.prepare(httptest.NewRequest("GET", "/health", nil))
			if err := h.ServeHTTP(w, req, nil); err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			if w.Code != http.StatusOK || body["status"] != "ok" || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %v %v", w.Code, body, w.Header())
			}
		})
	}
}
