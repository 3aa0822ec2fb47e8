// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// hammer runs workers that each call next() until stop is closed; it returns failures.
func hammer(workers int, stop <-chan struct{}, next func(i int) error) (ok int64, failures []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := next(w*1_000_000 + i); err != nil {
					mu.Lock()
					if len(failures) < 20 {
						failures = append(failures, err.Error())
					}
					mu.Unlock()
				} else {
					n.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	return n.Load(), failures
}

// streamOnce posts a streaming chat completion and reads it to the end.
//
// The request carries an Idempotency-Key, which lets Go's client resend it when the server closed an idle
// keep-alive connection at the moment it was reused (a race every HTTP/1.1 server has during a graceful
// reload, and which real SDKs retry too). A request the server had accepted, or a stream cut midway, still
// fails the test.
func streamOnce(url string) error {
	req, err := http.NewRequest("POST", url,
		strings.NewReader(`{"stream":true,"messages":[{"role":"user","content":"one two three four"}]}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "stream-once")
	res, err := client.Do(req)
	if err != nil {
		return err // no answer: the caller may tell a reload's hand-over (handOver) from a failure
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		// Not wrapped: a stream broken after its answer began is a failure, never a hand-over to retry.
		return fmt.Errorf("reading stream: %v", err)
	}
	if res.StatusCode != 200 || !strings.Contains(string(b), "data: [DONE]") {
		return fmt.Errorf("status %d, body %.200q", res.StatusCode, b)
	}
	return nil
}

// TestPoolEvictionUnderLoad keeps a pool of one project busy with three projects' streams: every request
// evicts another project while streams of the evicted one are still running. None may fail.
func TestPoolEvictionUnderLoad(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 5 * time.Millisecond})
	dir := t.TempDir()
	projects := []string{"p1", "p2", "p3"}
	for _, p := range projects {
		writeManifest(t, dir, p, demoDoc(p, hostOf(llm)))
	}
	f := startFD2(t, "manifests file "+dir+"\n pool_size 1", pipeline)

	stop := make(chan struct{})
	time.AfterFunc(3*time.Second, func() { close(stop) })
	ok, failures := hammer(6, stop, func(i int) error {
		return streamOnce(f.url("/" + projects[i%len(projects)] + "/v1/chat/completions"))
	})
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during pool eviction, e.g.:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	m := string(do(t, "GET", f.url("/metrics"), "").body)
	if !strings.Contains(m, "fd2_pool_evictions_total") || strings.Contains(m, "fd2_pool_evictions_total 0\n") {
		t.Fatalf("no evictions happened; the test did not exercise eviction:\n%s", grepLines(m, "fd2_pool"))
	}
	t.Logf("%d streams completed with pool_size 1 over 3 projects", ok)
}

// TestReloadUnderLoad swaps the Caddy config five times (what `caddy reload` does) while clients stream
// and poll: no request may be dropped.
func TestReloadUnderLoad(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 2 * time.Millisecond})
	dir := t.TempDir()
	writeManifest(t, dir, "acme", demoDoc("acme", hostOf(llm)))
	f := startFD2(t, "manifests file "+dir, pipeline)

	stop := make(chan struct{})
	done := make(chan struct{})
	var ok int64
	var failures []string
	go func() {
		defer close(done)
		ok, failures = hammer(6, stop, func(i int) error {
			if i%2 == 0 {
				err := streamOnce(f.url("/acme/v1/chat/completions"))
				if err != nil && handOver(err) {
					// The request met the old server's hand-over before any answer (the reset of an idle
					// connection as the request was being written). It carries an Idempotency-Key, so it is
					// resent once, as the SDKs do on a connection error; a second failure counts.
					if err2 := streamOnce(f.url("/acme/v1/chat/completions")); err2 != nil {
						return fmt.Errorf("%w; resent: %w", err, err2)
					}
					return nil
				}
				return err
			}
			res, err := client.Get(f.url("/acme/echo/poll"))
			if err != nil && handOver(err) {
				// A GET that met the old server's listener hand-over (EOF or reset before any response, within
				// two seconds of a load) is resent once, as clients do; a second failure counts.
				res, err = client.Get(f.url("/acme/echo/poll"))
			}
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("GET status %d: %s", res.StatusCode, b)
			}
			return nil
		})
	}()
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		// A changed Caddyfile each time: a different body limit and pool size.
		f.load(fmt.Sprintf("manifests file %s\n pool_size %d", dir, 10+i),
			strings.Replace(pipeline, "max_body_size 1KiB", fmt.Sprintf("max_body_size %dKiB", 2+i), 1))
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across reloads, e.g.:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	if ok < 50 {
		t.Fatalf("only %d requests completed: the load did not run", ok)
	}
	t.Logf("%d requests completed across 5 reloads", ok)
}

// TestCaddyfileExample adapts and validates Caddyfile.example (what xcaddy.sh does with the built binary).
func TestCaddyfileExample(t *testing.T) {
	requireIntegration(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(raw, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapting Caddyfile.example: %v", err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatalf("decoding adapted config: %v", err)
	}
	// Validate provisions every module (the dsp app, handlers) without starting servers. Relative paths
	// in the example are relative to the repository root.
	wd, _ := os.Getwd()
	if err := os.Chdir(repoRoot()); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("validating Caddyfile.example: %v", err)
	}
	for _, want := range []string{`"dsp"`, `"dsp_manifest"`, `"dsp_dispatch"`, `"dsp_error"`, `"dsp_fakellm"`} {
		if !strings.Contains(string(adapted), want) {
			t.Errorf("adapted example lacks %s", want)
		}
	}
	_ = http.StatusOK
}
