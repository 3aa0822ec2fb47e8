// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
)

const decisionDoc = `{"project_id":"bench","modules":[{"module_type":"api_gateway","name":"gw","config":{
  "consumer":{"username":"alice","plugins":{"jwt-auth":{"key":"bench-key","secret":"bench-secret"}}},
  "routes":[{"name":"chat","uri":"/bench/v1/chat/completions","methods":["POST"],
    "upstream":{"scheme":"http","nodes":{"127.0.0.1:9":1}},
    "plugins":{"jwt-auth":{},"limit-count":{"count":1000000000,"time_window":60}}}]}}]}`

// BenchmarkDecision is the whole per-request decision of the manifest pipeline, without the upstream call
// and without Caddy's own per-request work (vars, replacer, spans): resolve the manifest from memory,
// match the route, authenticate a cached JWT with the project's consumers, take a limit-count unit from
// the memory store, and reach the route's target in the pool (acquire, find the proxy, release) — what
// dsp_manifest, dsp_auth, dsp_ratelimit and dsp_dispatch do with the route's compiled plan. Issue 13's
// target: ≤ 5 µs and ≤ 5 allocs per request.
func BenchmarkDecision(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), []byte(decisionDoc), 0o600); err != nil {
		b.Fatal(err)
	}
	// A real config: the pool provisions Caddy's reverse_proxy, which needs a loaded config around it.
	cfg := `{"admin":{"disabled":true},"apps":{"dsp":{"manifests":{"file":"` + dir + `"}}}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = caddy.Stop() })
	app, err := Current()
	if err != nil {
		b.Fatal(err)
	}
	res, pool := app.resolver, app.Pool()
	store := ratelimit.NewMemoryStore(nil)
	opts := auth.VerifyOptions{CacheSize: 1000}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"key": "bench-key", "sub": "u",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("bench-secret"))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("POST", "http://gw/bench/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx := context.Background()

	decide := func() {
		x := plan.NewExchange(time.Now(), "")
		x.ProjectID, x.Path = "bench", req.URL.Path
		e, err := res.Get(ctx, x.ProjectID)
		if err != nil {
			b.Fatal(err)
		}
		x.Entry = e
		x.Project = e.Value.(*plan.Project)
		rt := x.Project.Table.Match(req, x.Path)
		if rt == nil {
			b.Fatal("no match")
		}
		x.Route = x.Project.Routes[rt]
		p, err := x.Project.Consumers.Authenticate(req, x.ProjectID, x.Route.Auth, opts)
		if err != nil {
			b.Fatal(err)
		}
		x.Principal, x.Authenticated = p, true
		in := ratelimit.KeyInput{Request: req, ClientIP: "10.0.0.1", Consumer: x.Consumer(), Project: x.ProjectID}
		for _, pol := range x.Route.Limits {
			d, err := store.Take(ctx, pol.Key.Key(in), pol.Rule, 1)
			if err != nil || !d.Allowed {
				b.Fatal("limited", err)
			}
		}
		x.RateLimited = true
		if x.Route.Target.Kind != plan.TargetProxy || x.Route.Transforms.Denied != "" {
			b.Fatal("unexpected target")
		}
		pp, err := pool.Acquire(x.Project)
		if err != nil {
			b.Fatal(err)
		}
		if pp.Target(rt) == nil {
			b.Fatal("no proxy")
		}
		pp.Release()
	}
	decide() // warm: compile, pool build, token cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		decide()
	}
}
