// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// hs256 signs claims with secret; a nil value deletes the default claim.
func hs256(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"key": "opts-key", "sub": "u", "iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func status(err error) int {
	if err == nil {
		return 200
	}
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return -1
}

// TestStaticRequireExp (issue 12 #14): a static jwt policy refuses a token without exp unless
// require_exp is off; a present exp is checked either way.
func TestStaticRequireExp(t *testing.T) {
	const secret = "unit-static-secret"
	off, on := false, true
	noExp := hs256(t, secret, map[string]any{"exp": nil})
	expired := hs256(t, secret, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	fresh := hs256(t, secret, nil)
	cases := []struct {
		name       string
		requireExp *bool
		token      string
		want       int
	}{
		{"default: no exp refused", nil, noExp, 401},
		{"default: exp accepted", nil, fresh, 200},
		{"on: no exp refused", &on, noExp, 401},
		{"off: no exp accepted", &off, noExp, 200},
		{"off: expired refused", &off, expired, 401},
		{"off: exp accepted", &off, fresh, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{JWT: &JWTConfig{Secret: secret, RequireExp: tc.requireExp}, CacheSize: 10, logger: zap.NewNop()}
			if err := h.provisionJWT(context.Background(), caddy.NewReplacer(), secret); err != nil {
				t.Fatal(err)
			}
			r := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), nil, nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			err := h.ServeHTTP(httptest.NewRecorder(), r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			if got := status(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}
