// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// adminProject is one project of GET /dsp/projects.
type adminProject struct {
	ID         string   `json:"id"`
	State      string   `json:"state"`
	Code       string   `json:"code"`
	Errors     []string `json:"errors"`
	RejectedAt string   `json:"rejected_at"`
	Hash       string   `json:"hash"`
	Serving    *struct {
		Hash   string `json:"hash"`
		Origin string `json:"origin"`
	} `json:"serving"`
}

func adminProjects(t *testing.T, f *fd2) map[string]adminProject {
	t.Helper()
	r := do(t, "GET", f.adminURL("/dsp/projects"), "")
	expectStatus(t, r, 200)
	var out struct {
		Projects []adminProject `json:"projects"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decoding /dsp/projects: %v: %s", err, r.body)
	}
	m := map[string]adminProject{}
	for _, p := range out.Projects {
		m[p.ID] = p
	}
	return m
}

// TestNullManifestDoesNotKill is issue 12 items 1 and 15. A file source with an environment (as
// Caddyfile.example configures it) once died with exit code 2 on a manifest file holding null — from one
// unauthenticated request, from POST /dsp/sync, or from the background refresh when a cached project's file
// turned null. Now that project answers 503 manifest_invalid (or keeps its previous version), every other
// project serves, and the admin API lists the refused manifests with their errors.
func TestNullManifestDoesNotKill(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "nul", "null")
	writeManifest(t, dir, "good", demoDoc("good", hostOf(llm)))
	writeManifest(t, dir, "turns", demoDoc("turns", hostOf(llm)))
	writeManifest(t, dir, "typo", `{"project_id":"typo","project_name":"T","modules":[
 {"module_type":"monitoring","name":"mon","config":{}},
 {"module_type":"apisix_gateway","name":"api-gateway","config":{}}]}`)
	f := startFD2(t, fmt.Sprintf("environment development\n manifests file %s {\n refresh 100ms\n }", dir), pipeline)

	r := do(t, "GET", f.url("/nul/anything"), "")
	expectStatus(t, r, 503)
	if code := r.errorCode(t); code != "manifest_invalid" {
		t.Fatalf("code = %s, want manifest_invalid", code)
	}
	expectStatus(t, do(t, "GET", f.url("/good/echo/one"), ""), 200)
	expectStatus(t, do(t, "GET", f.url("/turns/echo/one"), ""), 200)
	expectStatus(t, do(t, "GET", f.url("/typo/x"), ""), 503)

	sync := do(t, "POST", f.adminURL("/dsp/sync"), "")
	expectStatus(t, sync, 200)
	if !strings.Contains(string(sync.body), `"nul"`) || !strings.Contains(string(sync.body), `"good"`) {
		t.Fatalf("sync result: %s", sync.body)
	}
	expectStatus(t, do(t, "GET", f.url("/good/echo/two"), ""), 200)

	// A cached project's file turns null under the background refresh.
	writeManifest(t, dir, "turns", "null")
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(filepath.Join(dir, "turns.json"), later, later); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for adminProjects(t, f)["turns"].State != "invalid" {
		if time.Now().After(deadline) {
			t.Fatalf("the refresh never saw the null file: %+v", adminProjects(t, f)["turns"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)                                 // a few more refresh ticks over the null file
	expectStatus(t, do(t, "GET", f.url("/turns/echo/three"), ""), 200) // the previous version serves on
	expectStatus(t, do(t, "GET", f.url("/good/echo/three"), ""), 200)

	ps := adminProjects(t, f)
	if p := ps["good"]; p.State != "ok" || p.Serving != nil || len(p.Errors) != 0 {
		t.Errorf("good project listed as %+v, want state ok", p)
	}
	if p := ps["nul"]; p.State != "invalid" || p.Code != "manifest_invalid" || p.Serving != nil ||
		len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "JSON object, got null") {
		t.Errorf("null project listed as %+v, want invalid with its error and nothing served", p)
	}
	if p := ps["typo"]; p.State != "invalid" || len(p.Errors) != 1 ||
		p.Errors[0] != `modules[1] (api-gateway): unknown module_type "apisix_gateway"` {
		t.Errorf("typo project listed as %+v, want the precise validation error", p)
	}
	if p := ps["turns"]; p.State != "invalid" || p.Serving == nil || p.Serving.Hash == "" || p.Serving.Hash != p.Hash || p.RejectedAt == "" {
		t.Errorf("project whose file turned null listed as %+v, want invalid, serving its last good version", p)
	}

	// Fixed again: the rejection clears.
	writeManifest(t, dir, "turns", demoDoc("turns", hostOf(llm)))
	later = later.Add(2 * time.Second)
	if err := os.Chtimes(filepath.Join(dir, "turns.json"), later, later); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, do(t, "POST", f.adminURL("/dsp/projects/turns/reload"), ""), 200)
	if p := adminProjects(t, f)["turns"]; p.State != "ok" || p.Serving != nil {
		t.Errorf("fixed project listed as %+v, want ok", p)
	}
}

// TestManifestTooLarge is issue 12 item 12: max_manifest_size refuses a larger manifest from a file or a
// Control Tower with manifest_too_large, in the log and the admin API; the project answers 503.
func TestManifestTooLarge(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	big := strings.Replace(demoDoc("big", hostOf(llm)), `"environment": "development",`,
		`"environment": "development", "description": "`+strings.Repeat("x", 8<<10)+`",`, 1)
	writeManifest(t, dir, "big", big)
	writeManifest(t, dir, "small", demoDoc("small", hostOf(llm)))
	ct := httptest.NewServer(controltower.New(dir, controltower.Options{}))
	t.Cleanup(ct.Close)
	for _, src := range []string{"file " + dir, "control_tower " + ct.URL} {
		t.Run(strings.Fields(src)[0], func(t *testing.T) {
			f := startFD2(t, "max_manifest_size 8KiB\n manifests "+src, pipeline)
			r := do(t, "GET", f.url("/big/echo/x"), "")
			expectStatus(t, r, 503)
			if code := r.errorCode(t); code != "manifest_invalid" {
				t.Fatalf("code = %s", code)
			}
			expectStatus(t, do(t, "GET", f.url("/small/echo/x"), ""), 200)
			if p := adminProjects(t, f)["big"]; p.State != "invalid" || p.Code != "manifest_too_large" ||
				len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "manifest_too_large") {
				t.Fatalf("admin API lists the big project as %+v", p)
			}
			logs, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(logs, []byte("manifest_too_large")) {
				t.Fatal("the log never says manifest_too_large")
			}
		})
	}
}

// TestSecretsAtRestControlTower is issue 12 item 13 through the Caddy glue: a Control Tower resolves a
// manifest's secrets; with `cache_key` the Redis tier and the last-good directory hold it sealed (DUMP of
// every key and every file searched for the secret), a new config with only last-good serves it, and a
// restart under another key cannot read the copies.
func TestSecretsAtRestControlTower(t *testing.T) {
	requireIntegration(t)
	const secret = "sk-at-rest-7d1c2b9a4e"
	registerSecret(secret)
	t.Setenv("FD2_TEST_CACHE_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	llm := startFakeLLM(t, fakellm.Options{})
	dir, lastGood := t.TempDir(), t.TempDir()
	writeManifest(t, dir, "acme", strings.Replace(demoDoc("acme", hostOf(llm)), "sk-integration", secret, 1))
	srv := httptest.NewServer(controltower.New(dir, controltower.Options{}))
	t.Cleanup(srv.Close)
	redisAddr := redistest.Start(t)
	dsp := func(extra string) string {
		return fmt.Sprintf("manifests control_tower %s {\n retries 1\n timeout 2s\n refresh 1h\n }\n cache redis redis://%s/0\n last_good %s\n cache_key {env.FD2_TEST_CACHE_KEY}\n%s",
			srv.URL, redisAddr, lastGood, extra)
	}
	f := startFD2(t, dsp(""), pipeline)
	r := do(t, "GET", f.url("/acme/authecho"), "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), secret) {
		t.Fatalf("the resolved secret did not reach the upstream: %s", r.body)
	}
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("redis keys: %v, %v", keys, err)
	}
	for _, k := range keys {
		if d := rc.Dump(ctx, k).Val(); strings.Contains(d, secret) || strings.Contains(d, "project_id") {
			t.Fatalf("redis key %s holds the manifest in the clear", k)
		}
	}
	files, _ := os.ReadDir(lastGood)
	if len(files) != 1 {
		t.Fatalf("%d last-good files, want 1", len(files))
	}
	for _, e := range files {
		b, _ := os.ReadFile(filepath.Join(lastGood, e.Name()))
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("project_id")) {
			t.Fatalf("last-good file %s holds the manifest in the clear", e.Name())
		}
	}

	// Control Tower and Redis gone, a new config (empty resolver): the sealed last-good copy serves.
	srv.Close()
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	f.load(dsp("max_stale 1h"), pipeline)
	r = do(t, "GET", f.url("/acme/authecho"), "")
	expectStatus(t, r, 200)
	if !strings.Contains(string(r.body), secret) {
		t.Fatalf("last-good copy served without its secret: %s", r.body)
	}
}
