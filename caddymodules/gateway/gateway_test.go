// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/source"
	"github.com/dsp-ai/fd2/internal/testfixtures"
)

// fixtures is FD2's own corpus of Control Tower manifests.
var fixtures = testfixtures.Manifests()

func newResolver(tb testing.TB) *source.Resolver {
	tb.Helper()
	r, err := source.New(source.Config{
		Source:  &source.FileSource{Dir: fixtures, Env: manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }}},
		Compile: func(id string, raw []byte) (any, error) { return CompileProject(id, raw) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// BenchmarkResolveMatch is the hot path of dsp_manifest on a warm cache: resolve the project's manifest
// from memory and match a route. Target: ≤ 2 µs and ≤ 3 allocs per request.
func BenchmarkResolveMatch(b *testing.B) {
	res := newResolver(b)
	ctx := context.Background()
	req := httptest.NewRequest("POST", "http://gw/codeconv/v1/chat/completions", nil)
	if _, err := res.Get(ctx, "codeconv"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := res.Get(ctx, "codeconv")
		if err != nil {
			b.Fatal(err)
		}
		if e.Value.(*plan.Project).Table.Match(req, req.URL.Path) == nil {
			b.Fatal("no match")
		}
	}
}

func TestResolveMatchAllocs(t *testing.T) {
	res := newResolver(t)
	ctx := context.Background()
	paths := map[string]string{
		"explicit exact":  "/codeconv/v1/chat/completions",
		"module route":    "/codeconv/translate/v1/chat/completions",
		"token broker":    "/codeconv/auth/token",
		"jwe_lab route":   "/jwe_lab/v1/chat/completions",
		"rag module":      "/rag-kb-integration/knowledge-base/api/v1/query",
		"no route (miss)": "/codeconv/nothing",
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "http://gw"+path, nil)
			project := path[1:]
			project = project[:len(project)-len(project[indexSlash(project):])]
			if _, err := res.Get(ctx, project); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(200, func() {
				e, _ := res.Get(ctx, project)
				_ = e.Value.(*plan.Project).Table.Match(req, req.URL.Path)
			})
			if allocs > 3 {
				t.Fatalf("resolve+match allocates %.1f per request, want ≤ 3", allocs)
			}
		})
	}
}

func indexSlash(s string) int {
	for i := range s {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

// TestPoolRefcountAndLRU checks the pool's contract without upstreams: eviction drops the pool's reference
// only; a project still held by a request stays open until released.
func TestPoolRefcountAndLRU(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	pool := NewPool(ctx, 2, zap.NewNop())
	proj := func(i int) *plan.Project {
		raw := []byte(`{"project_id":"p` + strconv.Itoa(i) + `","modules":[]}`)
		p, err := CompileProject("p"+strconv.Itoa(i), raw)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1, p2, p3 := proj(1), proj(2), proj(3)
	held, err := pool.Acquire(p1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*plan.Project{p2, p3} {
		pp, err := pool.Acquire(p)
		if err != nil {
			t.Fatal(err)
		}
		pp.Release()
	}
	if pool.Len() != 2 {
		t.Fatalf("pool holds %d projects, want 2", pool.Len())
	}
	if held.Closed() {
		t.Fatal("evicted project was closed while a request still held it")
	}
	held.Release()
	if !held.Closed() {
		t.Fatal("evicted project was not closed after its last request")
	}
	again, err := pool.Acquire(p1)
	if err != nil || again == held || again.Closed() {
		t.Fatalf("re-acquire after eviction: %v %v", err, again == held)
	}
	again.Release()
	// A new version of a project replaces the old one at once.
	p3v2 := proj(3)
	p3v2.Hash = "v2"
	pp, _ := pool.Acquire(p3v2)
	pp.Release()
	for k := range *pool.m.Load() {
		if k == p3.ID+"@"+p3.Hash {
			t.Fatal("old version of p3 still pooled")
		}
	}
	pool.Close()
	// A straggler on an unloading config is still served, from a project of its own that is cleaned up
	// when it is released and never pooled.
	late, err := pool.Acquire(p1)
	if err != nil || late.Closed() || pool.Len() != 0 {
		t.Fatalf("closed pool: %v closed=%v len=%d", err, late != nil && late.Closed(), pool.Len())
	}
	late.Release()
	if !late.Closed() {
		t.Fatal("the straggler's project was not cleaned up after release")
	}
}

var _ = http.MethodGet
