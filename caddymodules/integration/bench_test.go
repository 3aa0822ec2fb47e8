// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// BenchmarkLoadRatio measures, in one run against the same fake provider, plain Caddy reverse_proxy and
// FD2's pipeline (dsp_manifest + dsp_dispatch with a manifest route and proxy-rewrite). Rounds alternate
// between the two so that machine noise hits both alike. It reports the throughput ratio and the latency FD2
// adds at p50 and p99 (b.ReportMetric and the log). It is a benchmark, not a test, because
// its numbers need a quiet machine, and it asserts only that everything succeeded. One iteration is one
// full measurement: run it with -benchtime 1x (make bench does).
func BenchmarkLoadRatio(b *testing.B) {
	t := b
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "bench", demoDoc("bench", hostOf(llm)))
	plainPort := freePort(t)
	// The FD2 site is the pipeline alone (no extra handle blocks), so the comparison is FD2 vs plain proxying.
	f := startFD2Info(t, "manifests file "+dir, `
:{{HTTP}} {
	route {
		dsp_manifest
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`+fmt.Sprintf(`
:%d {
	reverse_proxy %s
}
`, plainPort, hostOf(llm)))
	waitListening(t, plainPort)

	body := `{"model":"fake-gpt","messages":[{"role":"user","content":"benchmark me please"}]}`
	plainURL := fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", plainPort)
	fd2URL := f.url("/bench/v1/chat/completions")
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()

	const workers, rounds = 16, 3
	round := 3 * time.Second
	run := func(url string) (n int, lat []time.Duration, errs int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		end := time.Now().Add(round)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var local []time.Duration
				e := 0
				for time.Now().Before(end) {
					t0 := time.Now()
					res, err := c.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						e++
						continue
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						e++
						continue
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				errs += e
				mu.Unlock()
			}()
		}
		wg.Wait()
		return len(lat), lat, errs
	}
	// warm up every path (connections, pool, manifest)
	minimalURL := f.url("/bench/minimal")
	run(plainURL)
	run(fd2URL)
	run(minimalURL)
	type series struct {
		n   int
		lat []time.Duration
	}
	var plain, full, minimal series
	for i := 0; i < rounds; i++ {
		for _, s := range []struct {
			url string
			acc *series
		}{{plainURL, &plain}, {minimalURL, &minimal}, {fd2URL, &full}} {
			n, l, e := run(s.url)
			if e > 0 {
				t.Fatalf("%s: %d errors", s.url, e)
			}
			s.acc.n += n
			s.acc.lat = append(s.acc.lat, l...)
		}
	}
	pct := func(l []time.Duration, p float64) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[int(float64(len(l)-1)*p)]
	}
	secs := (time.Duration(rounds) * round).Seconds()
	report := func(name string, s series) {
		t.Logf("%-34s %6.0f req/s  p50 %8v  p99 %8v", name, float64(s.n)/secs, pct(s.lat, .5), pct(s.lat, .99))
	}
	report("plain reverse_proxy", plain)
	report("fd2 minimal route (proxy-rewrite)", minimal)
	report("fd2 full route (+request-id,cors,headers)", full)
	for _, c := range []struct {
		name string
		s    series
	}{{"minimal", minimal}, {"full", full}} {
		ratio := float64(c.s.n) / float64(plain.n)
		b.ReportMetric(ratio, c.name+"_throughput_ratio")
		b.ReportMetric(float64(pct(c.s.lat, .5)-pct(plain.lat, .5))/1e3, c.name+"_added_p50_us")
		b.ReportMetric(float64(pct(c.s.lat, .99)-pct(plain.lat, .99))/1e3, c.name+"_added_p99_us")
		t.Logf("%s route: throughput ratio fd2/plain = %.3f (target >= 0.95); added latency p50 %v, p99 %v",
			c.name, ratio, pct(c.s.lat, .5)-pct(plain.lat, .5), pct(c.s.lat, .99)-pct(plain.lat, .99))
	}
}

// BenchmarkInferenceOverhead measures, in one run against the same fake provider, the latency of a
// non-streamed chat completion and the time to first byte of a streamed one: directly, through plain
// Caddy reverse_proxy, and through dsp_openai. Requests are sequential (one client) so the percentiles
// measure added latency, not queueing. Run with -benchtime 1x (make bench).
func BenchmarkInferenceOverhead(b *testing.B) {
	llm := startFakeLLM(b, fakellm.Options{})
	plainPort := freePort(b)
	f := startFD2Info(b, "", fmt.Sprintf(`
:{{HTTP}} {
	dsp_openai {
		provider fake openai {
			base_url %s/v1
		}
	}
}
:%d {
	reverse_proxy %s
}
`, llm.URL, plainPort, hostOf(llm)))
	waitListening(b, plainPort)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := `{"model":"fake-gpt","messages":[{"role":"user","content":"benchmark me please"}]}`
	streamBody := `{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"benchmark me please"}]}`
	targets := []struct{ name, base string }{
		{"direct", llm.URL}, {"reverse_proxy", fmt.Sprintf("http://127.0.0.1:%d", plainPort)}, {"dsp_openai", f.url("")},
	}
	call := func(base, body string, ttfb bool) time.Duration {
		t0 := time.Now()
		res, err := c.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var d time.Duration
		if ttfb {
			br := bufio.NewReader(res.Body)
			if _, err := br.ReadString('\n'); err != nil {
				b.Fatal(err)
			}
			d = time.Since(t0)
			_, _ = io.Copy(io.Discard, br)
		} else {
			_, _ = io.Copy(io.Discard, res.Body)
			d = time.Since(t0)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: status %d", base, res.StatusCode)
		}
		return d
	}
	const n = 1500
	lat := map[string][]time.Duration{}
	ttfb := map[string][]time.Duration{}
	for i := 0; i < 50; i++ { // warm up
		for _, tg := range targets {
			call(tg.base, body, false)
			call(tg.base, streamBody, true)
		}
	}
	for i := 0; i < n; i++ {
		for _, tg := range targets {
			lat[tg.name] = append(lat[tg.name], call(tg.base, body, false))
			ttfb[tg.name] = append(ttfb[tg.name], call(tg.base, streamBody, true))
		}
	}
	p := func(l []time.Duration, q float64) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[int(float64(len(l)-1)*q)]
	}
	for _, tg := range targets {
		b.Logf("%-14s non-stream p50 %8v p99 %8v | stream TTFB p50 %8v p99 %8v", tg.name,
			p(lat[tg.name], .5), p(lat[tg.name], .99), p(ttfb[tg.name], .5), p(ttfb[tg.name], .99))
	}
	addedP50 := p(lat["dsp_openai"], .5) - p(lat["reverse_proxy"], .5)
	addedTTFB := p(ttfb["dsp_openai"], .5) - p(ttfb["direct"], .5)
	b.ReportMetric(float64(addedP50)/1e3, "added_p50_vs_reverse_proxy_us")
	b.ReportMetric(float64(addedTTFB)/1e3, "added_ttfb_vs_direct_us")
	b.Logf("dsp_openai adds %v p50 over plain reverse_proxy (target ≤ 100µs) and %v TTFB over the direct call (target ≤ 500µs)", addedP50, addedTTFB)
}

// BenchmarkInstrumentationCost measures what FD2's metrics cost in throughput: the same pipeline
// (dsp_manifest → dsp_auth with an API key → dsp_ratelimit → dsp_dispatch to an inference module, the route
// that records the most: request, stage, token, GenAI, provider and rate-limit metrics) served by three sites
// of one process: everything on, `metrics off`, and `metrics off` + `server_timing off`. Rounds cycle
// through the sites (order rotating) against the same fake provider; the median ratio of each cycle's
// rounds resists the noise bursts of a shared machine. Target: metrics cost ≤ 5%. The Server-Timing
// headers' own cost is reported too (two more response headers for FD2 and the client to handle).
// Run with -benchtime 1x (make bench).
func BenchmarkInstrumentationCost(b *testing.B) {
	llm := startFakeLLM(b, fakellm.Options{})
	dir := b.TempDir()
	writeManifest(b, dir, "instr", obsManifest("instr", llm.URL, hostOf(llm)))
	keyFile := dir + "/keys.json"
	key, rec, err := newKey("instr-consumer", 0)
	if err != nil {
		b.Fatal(err)
	}
	writeKeys(b, keyFile, rec)
	site := func(port, manifestOpts string) string {
		return fmt.Sprintf(`
:%s {
	route {
		dsp_manifest %s
		dsp_auth {
			api_keys file %s
		}
		dsp_ratelimit {
			requests 100000000/h
			by consumer
			store memory
		}
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`, port, manifestOpts, keyFile)
	}
	noMetricsPort, barePort := freePort(b), freePort(b)
	f := startFD2Info(b, "manifests file "+dir, site("{{HTTP}}", "")+
		site(fmt.Sprint(noMetricsPort), "{\n\t\t\tmetrics off\n\t\t}")+
		site(fmt.Sprint(barePort), "{\n\t\t\tmetrics off\n\t\t\tserver_timing off\n\t\t}"))
	waitListening(b, noMetricsPort)
	waitListening(b, barePort)
	path := "/instr/assistant/v1/chat/completions"
	urls := []string{f.url(path), fmt.Sprintf("http://127.0.0.1:%d%s", noMetricsPort, path),
		fmt.Sprintf("http://127.0.0.1:%d%s", barePort, path)}
	body := `{"model":"fake-gpt","messages":[{"role":"user","content":"benchmark me please"}]}`
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	const workers, cycles = 16, 12
	round := 1200 * time.Millisecond
	run := func(url string) int64 {
		return loadRound(b, c, workers, round, url, body, "X-API-Key", key)
	}
	for _, u := range urls { // warm-up: connections, manifest, pool, tokenizer
		run(u)
	}
	var total [3]int64
	var metricsRatio, timingRatio []float64
	for i := 0; i < cycles; i++ {
		var got [3]int64
		for j := 0; j < 3; j++ {
			k := (i + j) % 3
			got[k] = run(urls[k])
			total[k] += got[k]
		}
		metricsRatio = append(metricsRatio, float64(got[0])/float64(got[1]))
		timingRatio = append(timingRatio, float64(got[1])/float64(got[2]))
	}
	median := func(v []float64) float64 {
		sort.Float64s(v)
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	mr, tr2 := median(metricsRatio), median(timingRatio)
	secs := (time.Duration(cycles) * round).Seconds()
	b.ReportMetric(mr, "metrics_throughput_ratio")
	b.ReportMetric(tr2, "server_timing_throughput_ratio")
	b.Logf("all on %.0f req/s, metrics off %.0f req/s, metrics and Server-Timing off %.0f req/s", float64(total[0])/secs,
		float64(total[1])/secs, float64(total[2])/secs)
	b.Logf("metrics: median cycle ratio %.3f (totals %.3f), cost %.1f%% (target ≤ 5%%); Server-Timing headers: ratio %.3f (totals %.3f), cost %.1f%%",
		mr, float64(total[0])/float64(total[1]), 100*(1-mr), tr2, float64(total[1])/float64(total[2]), 100*(1-tr2))
}

// loadRound posts body to url from workers concurrent clients for one round and returns how many requests
// succeeded; any failed request fails the benchmark. header/value, when set, is sent with every request.
func loadRound(b *testing.B, c *http.Client, workers int, round time.Duration, url, body, header, value string) int64 {
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(round)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if header != "" {
					req.Header.Set(header, value)
				}
				res, err := c.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if errs.Load() > 0 {
		b.Fatalf("%s: %d failed requests", url, errs.Load())
	}
	return n.Load()
}
