// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/manifest/manifesttest"
)

// BenchmarkCompileRoutes is what a manifest version costs to load, per route: resolution (the environment
// passes), decoding, validation, the route table and every route's plugins (CompileProject, what the
// resolver's Compile hook runs). Issue 12 item 12: the cost must be linear in routes — ns/route and
// B/route stay flat from 1 000 to 40 000 routes (the 40 000-route manifest is ~10 MB).
func BenchmarkCompileRoutes(b *testing.B) {
	for _, n := range []int{1000, 10000, 40000} {
		raw := manifesttest.Routes("bench", n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				resolved, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }})
				if err != nil {
					b.Fatal(err)
				}
				p, err := CompileProject("bench", resolved)
				if err != nil {
					b.Fatal(err)
				}
				if got := len(p.Table.Routes()); got < n {
					b.Fatalf("%d routes compiled, want at least %d", got, n)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			per := float64(b.N) * float64(n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/route")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/per, "B/route")
		})
	}
}

// TestCompileLinear guards the benchmark's claim cheaply: compiling 8x the routes may cost at most ~16x the
// time (linear with generous noise; quadratic would be 64x).
func TestCompileLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	cost := func(n int) float64 {
		raw := manifesttest.Routes("lin", n)
		r := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				resolved, err := manifest.ResolveEnv(raw, manifest.EnvOptions{Getenv: func(string) (string, bool) { return "", false }})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := CompileProject("lin", resolved); err != nil {
					b.Fatal(err)
				}
			}
		})
		return float64(r.NsPerOp())
	}
	small, large := cost(500), cost(4000)
	if ratio := large / small; ratio > 16 {
		t.Fatalf("8x the routes cost %.1fx the time: compile is not linear", ratio)
	}
}
