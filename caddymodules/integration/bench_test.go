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
	f := startFD2(t, "manifests file "+dir, pipeline+fmt.Sprintf(`
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
	// warm up both paths (connections, pool, manifest)
	run(plainURL)
	run(fd2URL)
	var plainN, fdN int
	var plainLat, fdLat []time.Duration
	for i := 0; i < rounds; i++ {
		n, l, e := run(plainURL)
		if e > 0 {
			t.Fatalf("plain reverse_proxy: %d errors", e)
		}
		plainN += n
		plainLat = append(plainLat, l...)
		n, l, e = run(fd2URL)
		if e > 0 {
			t.Fatalf("fd2 pipeline: %d errors", e)
		}
		fdN += n
		fdLat = append(fdLat, l...)
	}
	pct := func(l []time.Duration, p float64) time.Duration {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return l[int(float64(len(l)-1)*p)]
	}
	secs := (time.Duration(rounds) * round).Seconds()
	ratio := float64(fdN) / float64(plainN)
	t.Logf("plain reverse_proxy: %.0f req/s  p50 %v  p99 %v", float64(plainN)/secs, pct(plainLat, .5), pct(plainLat, .99))
	t.Logf("fd2 pipeline:        %.0f req/s  p50 %v  p99 %v", float64(fdN)/secs, pct(fdLat, .5), pct(fdLat, .99))
	b.ReportMetric(ratio, "throughput_ratio")
	b.ReportMetric(float64(pct(fdLat, .5)-pct(plainLat, .5))/1e3, "added_p50_us")
	b.ReportMetric(float64(pct(fdLat, .99)-pct(plainLat, .99))/1e3, "added_p99_us")
	t.Logf("throughput ratio fd2/plain = %.3f (target >= 0.95); added latency p50 %v, p99 %v",
		ratio, pct(fdLat, .5)-pct(plainLat, .5), pct(fdLat, .99)-pct(plainLat, .99))
}
