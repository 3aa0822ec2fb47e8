// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// TestControlTowerDownServesLastGood kills the Control Tower mid-test: the cached manifest keeps serving,
// a forced reload fails without dropping it, health says degraded, and a fresh config (new resolver, empty
// memory) serves the copy from the last_good directory.
func TestControlTowerDownServesLastGood(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir, lastGood := t.TempDir(), t.TempDir()
	writeManifest(t, dir, "acme", demoDoc("acme", hostOf(llm)))
	ct := controltower.New(dir, controltower.Options{})
	srv := httptest.NewServer(ct)
	t.Cleanup(srv.Close)

	dsp := func(ttl string) string {
		// A Control Tower's manifests are resolved: last_good keeps them only sealed under cache_key.
		return fmt.Sprintf("manifests control_tower %s {\n retries 1\n timeout 2s\n refresh 1h\n }\n cache memory {\n ttl %s\n }\n last_good %s\n cache_key %s", srv.URL, ttl, lastGood, testCacheKey)
	}
	f := startFD2(t, dsp("5m"), pipeline)
	expectStatus(t, do(t, "GET", f.url("/acme/echo/one"), ""), 200)
	if _, err := os.Stat(filepath.Join(lastGood, "acme.json")); err != nil {
		t.Fatalf("last-good copy not written: %v", err)
	}

	srv.CloseClientConnections()
	srv.Close() // the Control Tower is gone

	expectStatus(t, do(t, "GET", f.url("/acme/echo/two"), ""), 200)
	r := do(t, "POST", f.adminURL("/dsp/projects/acme/reload"), "")
	if r.status == 200 {
		t.Fatalf("reload succeeded with the Control Tower down: %s", r.body)
	}
	expectStatus(t, do(t, "GET", f.url("/acme/echo/three"), ""), 200)
	h := do(t, "GET", f.url("/health?detailed=true"), "")
	if m := h.json(t); m["status"] != "degraded" {
		t.Fatalf("health with the source down: %s", h.body)
	}

	// A new config with other cache settings gets a new, empty resolver: only the disk copy can serve.
	f.load(dsp("4m"), pipeline)
	r = do(t, "GET", f.url("/acme/echo/four"), "")
	expectStatus(t, r, 200)
	lr := do(t, "GET", f.adminURL("/dsp/projects"), "")
	var out struct {
		Projects []struct {
			ID     string `json:"id"`
			Origin string `json:"origin"`
			Stale  bool   `json:"stale"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(lr.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Projects) != 1 || out.Projects[0].Origin != "last_good" || !out.Projects[0].Stale {
		t.Fatalf("projects after restart with the source down: %s", lr.body)
	}
	m := do(t, "GET", f.url("/metrics"), "")
	if !strings.Contains(string(m.body), `fd2_manifest_cache_total{result="hit",tier="last_good"}`) &&
		!strings.Contains(string(m.body), `fd2_manifest_cache_total{result="stale",tier="last_good"}`) {
		t.Fatalf("no last_good metric:\n%s", grepLines(string(m.body), "fd2_manifest_cache_total"))
	}
	// An unknown project with the source down and nothing cached is 503, not 404.
	r = do(t, "GET", f.url("/other/x"), "")
	expectStatus(t, r, 503)
	if r.errorCode(t) != "manifest_unavailable" {
		t.Fatal(string(r.body))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// testCacheKey is the cache_key of tests that cache a Control Tower's (resolved) manifests.
const testCacheKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// TestRedisSharedByTwoInstances runs two FD2 processes on one real redis-server: the second serves a
// project from Redis without asking the Control Tower, and a reload on the first makes the second drop its
// copy at once (pub/sub) and serve the new version.
func TestRedisSharedByTwoInstances(t *testing.T) {
	requireIntegration(t)
	redisAddr := redistest.Start(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "acme", demoDoc("acme", hostOf(llm)))
	ct := controltower.New(dir, controltower.Options{})
	srv := httptest.NewServer(ct)
	t.Cleanup(srv.Close)

	dsp := fmt.Sprintf("manifests control_tower %s {\n refresh 1h\n }\n cache redis redis://%s/0 {\n ttl 10m\n prefix itest:\n }\n cache_key %s", srv.URL, redisAddr, testCacheKey)
	a := startFD2(t, dsp, pipeline)

	// Instance B: a separate process with the same dsp settings.
	b := &fd2{t: t, http: freePort(t), admin: freePort(t)}
	startSubprocessFD2(t, b.caddyfile(dsp, strings.ReplaceAll(pipeline, "{{HTTP}}", fmt.Sprint(b.http))))
	waitListening(t, b.http)

	expectStatus(t, do(t, "GET", a.url("/acme/echo/x"), ""), 200)
	afterA := ct.Requests()
	if afterA == 0 {
		t.Fatal("instance A did not fetch from the Control Tower")
	}
	r := do(t, "GET", b.url("/acme/echo/x"), "")
	expectStatus(t, r, 200)
	if r.header.Get("X-Served-By") != "fd2" {
		t.Fatalf("unexpected response from B: %v", r.header)
	}
	if got := ct.Requests(); got != afterA {
		t.Fatalf("instance B went to the Control Tower (%d → %d) instead of Redis", afterA, got)
	}

	// Change the manifest: the echo route now sets another response header.
	writeManifest(t, dir, "acme", strings.Replace(demoDoc("acme", hostOf(llm)), `"X-Served-By": "fd2"`, `"X-Served-By": "fd2-v2"`, 1))
	expectStatus(t, do(t, "POST", a.adminURL("/dsp/projects/acme/reload"), ""), 200)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = do(t, "GET", b.url("/acme/echo/x"), "")
		if r.header.Get("X-Served-By") == "fd2-v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance B still serves the old manifest: X-Served-By=%q", r.header.Get("X-Served-By"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := do(t, "GET", a.url("/acme/echo/x"), "").header.Get("X-Served-By"); got != "fd2-v2" {
		t.Fatalf("instance A serves %q after its own reload", got)
	}
	_ = http.StatusOK
}
