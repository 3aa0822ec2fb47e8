// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package loadbench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/internal/loadgen"
)

// BenchmarkHeldStreams measures the memory a held SSE stream costs a server (docs/scaling.md's "streams
// per GiB"): it opens FD2_BENCH_STREAMS (2000) concurrent streams that last several seconds (the fake
// provider pauses 150 ms between tokens) through stock Caddy's reverse_proxy, FD2's dsp_openai (API key,
// request and token limits) and FD2's manifest pipeline (a limit-count route), each its own process, waits until every
// stream has its first event, and reads the server's anonymous resident memory against its idle value.
// One iteration is the whole measurement: -benchtime 1x.
func BenchmarkHeldStreams(b *testing.B) {
	n := envInt("FD2_BENCH_STREAMS", 2000)
	bins := buildBinaries(b, b.TempDir())
	p := pin(b)
	llm, caddy, caddyPort := startProviderAndCaddy(b, bins, p, 150*time.Millisecond)
	llmHost := strings.TrimPrefix(llm.URL, "http://")
	plain, keyFile, manifests := benchFiles(b, "held-streams")
	manifest := `{"project_id":"held","modules":[{"module_type":"api_gateway","name":"gw","config":{
	  "routes":[{"name":"chat","uri":"/held/v1/chat/completions","methods":["POST"],
	    "upstream":{"scheme":"http","nodes":{"` + llmHost + `":1}},
	    "plugins":{"limit-count":{"count":1000000000,"time_window":3600},"proxy-rewrite":{"uri":"/v1/chat/completions"}}}]}}]}`
	if err := os.WriteFile(filepath.Join(manifests, "held.json"), []byte(manifest), 0o600); err != nil {
		b.Fatal(err)
	}
	// One process per pipeline: a Go process keeps the memory it grew to, so a second measure in the same
	// process would start from a high idle value.
	openaiPort, manifestPort := freePort(b), freePort(b)
	fd2openai := start(b, "fd2 dsp_openai", bins.fd2, bins.env, p, "",
		inferenceSite(openaiPort, keyFile, "provider fake openai {\n\t\t\t\tbase_url "+llm.URL+"/v1\n\t\t\t}"), openaiPort)
	fd2manifest := start(b, "fd2 manifest", bins.fd2, bins.env, p, "\tdsp {\n\t\tmanifests file "+manifests+"\n\t}\n", fmt.Sprintf(`
:%d {
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit {
			store memory
		}
		dsp_dispatch
	}
}
`, manifestPort), manifestPort)

	// 40 words: a stream of about 6 s.
	words := strings.Repeat("word ", 39) + "end"
	body := `{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"` + words + `"}]}`
	targets := []struct {
		name string
		srv  *server
		url  string
		h    http.Header
	}{
		{"caddy reverse_proxy", caddy, fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", caddyPort), nil},
		{"fd2 dsp_openai", fd2openai, fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", openaiPort), http.Header{"X-Api-Key": {plain}}},
		{"fd2 manifest", fd2manifest, fmt.Sprintf("http://127.0.0.1:%d/held/v1/chat/completions", manifestPort), nil},
	}
	for b.Loop() {
		var lines []string
		for _, tg := range targets {
			_, idle, err := loadgen.Memory(tg.srv.pid)
			if err != nil {
				b.Fatal(err)
			}
			held, failed := holdStreams(b, tg.url, tg.h, body, n, func() {
				_, anon, err := loadgen.Memory(tg.srv.pid)
				if err != nil {
					b.Fatal(err)
				}
				perStream := float64(anon-idle) / float64(n)
				lines = append(lines, fmt.Sprintf("%s: %d streams held, anon RSS %d → %d MiB, %.1f KiB per stream, %.0f streams per GiB",
					tg.name, n, idle>>20, anon>>20, perStream/1024, float64(1<<30)/perStream))
				b.ReportMetric(perStream/1024, strings.ReplaceAll(tg.name, " ", "_")+"_KiB_per_stream")
			})
			if held != n || failed != 0 {
				b.Fatalf("%s: %d of %d streams held, %d failed", tg.name, held, n, failed)
			}
		}
		b.Logf("%s\n%s", p.note, strings.Join(lines, "\n"))
	}
}

// holdStreams opens n streams at once, calls measure once every one has its first event, then reads them
// to their end. It returns how many were held and how many did not end in [DONE].
func holdStreams(tb testing.TB, url string, h http.Header, body string, n int, measure func()) (held int, failed int) {
	tr := &http.Transport{MaxConnsPerHost: n + 10, MaxIdleConnsPerHost: n + 10, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var first sync.WaitGroup
	var done sync.WaitGroup
	var fails, got atomic.Int64
	first.Add(n)
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			signalled := false
			signal := func() {
				if !signalled {
					signalled = true
					first.Done()
				}
			}
			defer signal()
			req, _ := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader(body))
			for k, v := range h {
				req.Header[k] = v
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := c.Do(req)
			if err != nil {
				fails.Add(1)
				return
			}
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			ended := false
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") && !signalled {
					got.Add(1)
					signal()
				}
				ended = ended || sc.Text() == "data: [DONE]"
			}
			if !ended || res.StatusCode != 200 {
				fails.Add(1)
			}
		}()
	}
	first.Wait()
	measure()
	done.Wait()
	return int(got.Load()), int(fails.Load())
}
