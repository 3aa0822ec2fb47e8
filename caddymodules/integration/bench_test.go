// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/examples/fakellm"
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
	f := startFD2(t, "manifests file "+dir, `
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
