// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// TestStaticRequireExp (issue 12 #14): a static jwt policy requires exp unless require_exp is off (the
// library's StaticPolicy tests check what that does to tokens).
func TestStaticRequireExp(t *testing.T) {
	off, on := false, true
	for _, tc := range []struct {
		name       string
		requireExp *bool
		want       bool
	}{{"default", nil, true}, {"on", &on, true}, {"off", &off, false}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{JWT: &JWTConfig{Secret: "s", RequireExp: tc.requireExp}, CacheSize: 10, logger: zap.NewNop()}
			if err := h.provisionJWT(context.Background(), caddy.NewReplacer(), "s"); err != nil {
				t.Fatal(err)
			}
			if got := h.static.JWT.RequireExp; got != tc.want {
				t.Fatalf("RequireExp %v, want %v", got, tc.want)
			}
		})
	}
}
