// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/dsp-ai/fd2/examples/controltower"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// chaosLoad runs chat and SSE clients against urls until stop and sorts what went wrong: a non-2xx answer
// or a stream that did not end with [DONE] is a failure; a connection error before any response header
// is counted apart (during a reload it is the listener hand-over, which clients retry).
type chaosLoad struct {
	ok, streams, preHeader atomic.Int64
	failures               []string
	mu                     sync.Mutex
	preHeaderErrs          []string // the first few, for the log
}

func (c *chaosLoad) run(workers int, stop <-chan struct{}, chatURL, streamURL string) {
	_, c.failures = hammer(workers, stop, func(i int) error {
		stream := i%2 == 0
		url, body := chatURL, `{"model":"fake-gpt","messages":[{"role":"user","content":"one two three"}]}`
		if stream {
			url, body = streamURL, `{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`
		}
		res, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			if c.preHeader.Add(1) <= 3 {
				c.mu.Lock()
				c.preHeaderErrs = append(c.preHeaderErrs, err.Error())
				c.mu.Unlock()
			}
			return nil
		}
		b, rerr := io.ReadAll(res.Body)
		_ = res.Body.Close()
		switch {
		case res.StatusCode/100 != 2:
			return fmt.Errorf("%s: status %d: %.200s", url, res.StatusCode, b)
		case rerr != nil:
			return fmt.Errorf("%s: broken response: %w", url, rerr)
		case stream && !bytes.Contains(b, []byte("data: [DONE]")):
			return fmt.Errorf("%s: stream without [DONE]: %.300s", url, b)
		case stream:
			c.streams.Add(1)
		}
		c.ok.Add(1)
		return nil
	})
}

// TestChaosReloadsUnderLoad posts 100 configs to the admin API's /load (what `caddy reload` does) while
// chat and SSE clients run through the manifest pipeline's inference module and a proxied route: no
// request may fail and no stream may break.
func TestChaosReloadsUnderLoad(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: 2 * time.Millisecond})
	dir := t.TempDir()
	writeManifest(t, dir, "chaos", hostileManifest("chaos", hostOf(llm), "127.0.0.1:1"))
	f := startFD2Info(t, "manifests file "+dir, hostileSite)

	var load chaosLoad
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		load.run(8, stop, f.url("/chaos/chat/v1/chat/completions"), f.url("/chaos/stream"))
	}()
	const reloads = 100
	for i := 0; i < reloads; i++ {
		// A different config each time (the body cap changes), so every load replaces the running one.
		site := strings.Replace(hostileSite, "max_body_size 64KiB", fmt.Sprintf("max_body_size %dKiB", 64+i), 1)
		cfg := f.caddyfile(fmt.Sprintf("manifests file %s\n pool_size %d", dir, 10+i), site)
		adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Post(f.adminURL("/load"), "application/json", bytes.NewReader(adapted))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("reload %d: %d %s", i, res.StatusCode, b)
		}
		time.Sleep(30 * time.Millisecond)
	}
	close(stop)
	<-done
	t.Logf("%d reloads: %d requests completed (%d streams), %d connection errors before any response header",
		reloads, load.ok.Load(), load.streams.Load(), load.preHeader.Load())
	if len(load.preHeaderErrs) > 0 {
		t.Logf("e.g. %s", strings.Join(load.preHeaderErrs, "; "))
	}
	if len(load.failures) > 0 {
		t.Fatalf("%d failures across %d reloads, e.g.:\n%s", len(load.failures), reloads, strings.Join(load.failures, "\n"))
	}
	if load.streams.Load() < 50 {
		t.Fatalf("only %d streams completed: the load did not run", load.streams.Load())
	}
}

// TestChaosControlTowerKilled kills the Control Tower while clients run: the cached manifests keep serving
// every request.
func TestChaosControlTowerKilled(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{TokenDelay: time.Millisecond})
	dir := t.TempDir()
	writeManifest(t, dir, "ctk", hostileManifest("ctk", hostOf(llm), "127.0.0.1:1"))
	srv := httptest.NewServer(controltower.New(dir, controltower.Options{}))
	t.Cleanup(srv.Close)
	f := startFD2Info(t, fmt.Sprintf("manifests control_tower %s {\n retries 0\n timeout 1s\n refresh 200ms\n }", srv.URL), hostileSite)
	expectStatus(t, do(t, "POST", f.url("/ctk/stream"), `{"model":"fake-gpt","messages":[{"role":"user","content":"warm"}]}`), 200)

	var load chaosLoad
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		load.run(6, stop, f.url("/ctk/chat/v1/chat/completions"), f.url("/ctk/stream"))
	}()
	time.Sleep(500 * time.Millisecond)
	srv.CloseClientConnections()
	srv.Close() // the Control Tower dies; background refreshes now fail
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-done
	if len(load.failures) > 0 || load.preHeader.Load() > 0 {
		t.Fatalf("%d failures, %d connection errors with the Control Tower killed, e.g.:\n%s",
			len(load.failures), load.preHeader.Load(), strings.Join(load.failures, "\n"))
	}
	if load.ok.Load() < 20 {
		t.Fatalf("only %d requests completed", load.ok.Load())
	}
}

// TestChaosProviderKilledMidStream: the provider's connection dies in the middle of a stream served by the
// inference module; the client gets an error event and never a clean [DONE].
func TestChaosProviderKilledMidStream(t *testing.T) {
	requireIntegration(t)
	var started atomic.Int64
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		started.Add(1)
		events := make([]string, 3)
		for i := range events {
			events[i] = fmt.Sprintf("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"}}]}\n\n", i)
		}
		cutStream(t, w, events) // killed: no [DONE], no final chunk
	}))
	t.Cleanup(provider.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "pk", hostileManifest("pk", "127.0.0.1:1", hostOf(provider)))
	f := startFD2(t, "manifests file "+dir, hostileSite)

	for i := 0; i < 5; i++ {
		res, err := client.Post(f.url("/pk/cut/v1/chat/completions"), "application/json",
			strings.NewReader(`{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		b, rerr := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			t.Fatalf("reading: %v", rerr)
		}
		if bytes.Contains(b, []byte("[DONE]")) {
			t.Fatalf("a stream whose provider died ended cleanly:\n%s", b)
		}
		if !bytes.Contains(b, []byte(`"error"`)) || !bytes.Contains(b, []byte("w0")) {
			t.Fatalf("no error event after the provider's events:\n%s", b)
		}
	}
	if started.Load() == 0 {
		t.Fatal("the provider was never called")
	}
}

// TestChaosRedisKilled kills the rate limiter's Redis while chat and SSE clients run through token-limited
// and unlimited routes: with fail_mode open nothing fails; with fail_mode closed the limited route answers
// 503 ratelimit_unavailable (FD2's JSON) and nothing else fails.
func TestChaosRedisKilled(t *testing.T) {
	requireIntegration(t)
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			rp := startRedisProc(t)
			llm := startFakeLLM(t, fakellm.Options{TokenDelay: time.Millisecond})
			dir := t.TempDir()
			writeManifest(t, dir, "rk", hostileManifest("rk", hostOf(llm), "127.0.0.1:1"))
			site := strings.Replace(hostileSite, "\t\t\tdsp_ratelimit\n", "\t\t\tdsp_ratelimit {\n\t\t\t\tfail_mode "+mode+"\n\t\t\t}\n", 1)
			f := startFD2Info(t, fmt.Sprintf("manifests file %s\n cache redis redis://%s/0", dir, rp.addr()), site)

			var limited, unlimited chaosLoad
			var refused atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				unlimited.run(4, stop, f.url("/rk/chat/v1/chat/completions"), f.url("/rk/stream"))
			}()
			go func() {
				defer wg.Done()
				// The token-limited route, non-streamed and streamed; under fail_mode closed a refusal during
				// the outage is its JSON 503 and counts apart.
				_, limited.failures = hammer(2, stop, func(i int) error {
					body := `{"model":"fake-gpt","stream":` + fmt.Sprint(i%2 == 0) + `,"messages":[{"role":"user","content":"one two"}]}`
					res, err := client.Post(f.url("/rk/tokens"), "application/json", strings.NewReader(body))
					if err != nil {
						return err
					}
					b, _ := io.ReadAll(res.Body)
					_ = res.Body.Close()
					if res.StatusCode == 503 && mode == "closed" && bytes.Contains(b, []byte(`"code":"ratelimit_unavailable"`)) {
						refused.Add(1)
						return nil
					}
					if res.StatusCode != 200 {
						return fmt.Errorf("tokens: status %d: %.200s", res.StatusCode, b)
					}
					limited.ok.Add(1)
					return nil
				})
			}()
			time.Sleep(400 * time.Millisecond)
			rp.kill()
			time.Sleep(time.Second)
			close(stop)
			wg.Wait()
			t.Logf("fail_mode %s: %d unlimited and %d limited requests served, %d refused with ratelimit_unavailable",
				mode, unlimited.ok.Load(), limited.ok.Load(), refused.Load())
			if all := append(unlimited.failures, limited.failures...); len(all) > 0 || unlimited.preHeader.Load() > 0 {
				t.Fatalf("%d failures and %d connection errors with Redis killed, e.g.:\n%s",
					len(all), unlimited.preHeader.Load(), strings.Join(all, "\n"))
			}
			if mode == "closed" && refused.Load() == 0 {
				t.Fatal("fail_mode closed refused nothing during the outage: the test did not reach it")
			}
			if unlimited.ok.Load() < 20 || limited.ok.Load() == 0 {
				t.Fatalf("too little load: %d unlimited, %d limited", unlimited.ok.Load(), limited.ok.Load())
			}
			expectStatus(t, do(t, "GET", f.url("/health"), ""), 200)
		})
	}
}
