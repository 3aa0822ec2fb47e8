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

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
)

const optsSecret = "unit-opts-secret"

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

// optsRequest is a request to the one jwt-auth route of a project compiled once, as dsp_manifest hands it
// to dsp_auth; every call of the returned func shares that project (and so its cached consumer indexes).
func optsRequest(t *testing.T) func(token string) (*http.Request, *gateway.Request) {
	t.Helper()
	m, err := manifest.Decode([]byte(`{"project_id":"opts","modules":[{"module_type":"api_gateway","name":"gw","config":{
	  "consumer":{"username":"opts-consumer","plugins":{"jwt-auth":{"key":"opts-key","secret":"` + optsSecret + `"}}},
	  "routes":[{"name":"r","uri":"/opts/r","upstream":{"nodes":{"127.0.0.1:9":1}},"plugins":{"jwt-auth":{}}}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tbl, _, err := route.Compile("opts", m)
	if err != nil {
		t.Fatal(err)
	}
	proj := &gateway.Project{ID: "opts", Manifest: m, Table: tbl, Routes: map[*route.Route]*gateway.RouteInfo{}}
	rt := tbl.Routes()[0]
	tr, _, err := plugins.Compile(rt.Plugins)
	if err != nil {
		t.Fatal(err)
	}
	info := &gateway.RouteInfo{Route: rt, Transforms: tr}
	return func(token string) (*http.Request, *gateway.Request) {
		r := httptest.NewRequest("GET", "/opts/r", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r, &gateway.Request{Project: "opts", Route: rt, Info: info, Compiled: proj}
	}
}

// TestConsumerIndexPerOptions (issue 12 #10, #14): handlers with different leeway or require_exp that meet
// the same compiled project each verify with their own options — the project's consumer index is not the
// first handler's. A token admitted (and cached) by a lax handler is still refused by a strict one.
func TestConsumerIndexPerOptions(t *testing.T) {
	req := optsRequest(t)
	expired := hs256(t, optsSecret, map[string]any{"exp": time.Now().Add(-30 * time.Second).Unix()})
	noExp := hs256(t, optsSecret, map[string]any{"exp": nil})
	handler := func(o indexOptions) *Handler { o.cacheSize = 100; return &Handler{opts: o} }
	strict := handler(indexOptions{leeway: 5 * time.Second})
	lax := handler(indexOptions{leeway: 2 * time.Minute})
	needsExp := handler(indexOptions{leeway: 2 * time.Minute, requireExp: true})
	cases := []struct {
		name  string
		h     *Handler
		token string
		want  int
	}{
		{"leeway 5s refuses a token expired 30s ago", strict, expired, 401},
		{"leeway 2m then accepts it", lax, expired, 200},
		{"leeway 5s still refuses it", strict, expired, 401},
		{"exp optional: accepted", lax, noExp, 200},
		{"exp optional: accepted again (cached)", lax, noExp, 200},
		{"exp required: refused despite the cached verification", needsExp, noExp, 401},
		{"exp required: a token with exp passes", needsExp, expired, 200},
		{"exp optional, leeway 5s: no exp passes", strict, noExp, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, st := req(tc.token)
			_, err := tc.h.manifestAuth(r, st)
			if got := status(err); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
		})
	}
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

// TestInnerJWSRequireExp: the JWT inside a jwe-decrypt token, verified with the JWT service's secret,
// follows the dsp app's require_exp as jwt-auth routes do.
func TestInnerJWSRequireExp(t *testing.T) {
	noExp := hs256(t, "svc-secret", map[string]any{"exp": nil, "key": nil})
	for _, tc := range []struct {
		requireExp bool
		wantErr    bool
	}{{false, false}, {true, true}} {
		h := &Handler{svcSecret: []byte("svc-secret"), opts: indexOptions{requireExp: tc.requireExp}}
		_, err := h.verifyInner(context.Background(), &consumers{}, noExp)
		if (err != nil) != tc.wantErr {
			t.Fatalf("require_exp %v: err %v", tc.requireExp, err)
		}
	}
}
