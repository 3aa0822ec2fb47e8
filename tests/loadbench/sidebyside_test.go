// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package loadbench is FD2's side-by-side load benchmark: FD2's pipelines and stock Caddy reverse_proxy,
// each a separate server process, against the same fake provider in one run.
//
//	go test -run '^$' -bench SideBySide -benchtime 1x -v ./tests/loadbench/   (make bench)
package loadbench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/dsp-ai/fd2"
	"github.com/dsp-ai/fd2/internal/loadgen"
)

// The test binary doubles as both servers for the smoke test: with FD2_AS_CADDY=1 it is Caddy's command line.
func TestMain(m *testing.M) {
	if os.Getenv("FD2_AS_CADDY") == "1" {
		os.Args = append([]string{"fd2"}, strings.Fields(os.Getenv("FD2_ARGS"))...)
		caddycmd.Main()
		return
	}
	os.Exit(m.Run())
}

// workload is one row group of the table.
type workload struct {
	name   string
	stream bool
	conns  int
}

var workloads = []workload{
	{"chat", false, 1}, {"chat", false, 64}, {"streams", true, 1}, {"streams", true, 64},
}

// plan is how long a run is.
type plan struct {
	rounds        int
	round1, round int // one round at 1 connection, at 64 (milliseconds)
}

// table holds every sample: [workload][target][round].
type table [][][]sample

// run measures every workload against every target in interleaved rounds: within a round each workload
// visits the targets in an order that rotates from round to round, so a noisy moment of a shared machine
// does not land on one target only.
func run(tb testing.TB, ts []target, pl plan) table {
	tb.Helper()
	out := make(table, len(workloads))
	for w := range workloads {
		out[w] = make([][]sample, len(ts))
	}
	for r := 0; r < pl.rounds; r++ {
		for w, wl := range workloads {
			d := time.Duration(pl.round) * time.Millisecond
			if wl.conns == 1 {
				d = time.Duration(pl.round1) * time.Millisecond
			}
			for j := range ts {
				k := (j + r) % len(ts)
				if r == 0 && wl.conns > 1 && ts[k].profile != "" {
					go profile(tb, ts[k], wl.name, d)
				}
				s := measure(tb, ts[k], wl.stream, wl.conns, d)
				if s.failed > 0 {
					tb.Fatalf("%s %s at %d connections: %d failed requests, the first: %v", ts[k].name, wl.name,
						wl.conns, s.failed, s.firstErr)
				}
				out[w][k] = append(out[w][k], s)
			}
		}
	}
	return out
}

// median of one field over the rounds.
func median(ss []sample, f func(sample) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return loadgen.Median(v)
}

// row is one target's medians for one workload.
type row struct {
	rps, p50, p99, ttfb50, cpu, rssMiB, anonMiB float64
}

func medians(ss []sample) row {
	return row{
		rps:     median(ss, func(s sample) float64 { return s.rps }),
		p50:     median(ss, func(s sample) float64 { return s.p50 }),
		p99:     median(ss, func(s sample) float64 { return s.p99 }),
		ttfb50:  median(ss, func(s sample) float64 { return s.ttfb50 }),
		cpu:     median(ss, func(s sample) float64 { return s.cpuPerReq }),
		rssMiB:  median(ss, func(s sample) float64 { return float64(s.rss) / (1 << 20) }),
		anonMiB: median(ss, func(s sample) float64 { return float64(s.anon) / (1 << 20) }),
	}
}

// report renders the medians as a Markdown table (docs/performance.md keeps one) and returns them by
// workload and target.
func report(ts []target, tab table) (string, [][]row) {
	rows := make([][]row, len(workloads))
	var sb strings.Builder
	sb.WriteString("| workload | server | req/s | × Caddy | p50 | p99 | TTFB p50 | added p50 (TTFB) vs direct | CPU/req | × Caddy | RSS (anon) |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for w, wl := range workloads {
		rows[w] = make([]row, len(ts))
		for k := range ts {
			rows[w][k] = medians(tab[w][k])
		}
		direct, caddy := rows[w][0], rows[w][1]
		for k, t := range ts {
			if k == 0 {
				continue // direct is the latency baseline, not a server
			}
			r := rows[w][k]
			ttfb, added := "–", "–"
			if wl.stream {
				ttfb = ms(r.ttfb50)
			}
			// With one connection the added latency is the server's own; with many, the load generator and
			// the fake provider share their core with the direct calls, so "direct" is no baseline.
			if wl.conns == 1 {
				added = "+" + ms(r.p50-direct.p50)
				if wl.stream {
					added += " (+" + ms(r.ttfb50-direct.ttfb50) + ")"
				}
			}
			fmt.Fprintf(&sb, "| %s, %d conn | %s | %.0f | %.3f | %s | %s | %s | %s | %.0f µs | %.2f | %.0f (%.0f) MiB |\n",
				wl.name, wl.conns, t.name, r.rps, r.rps/caddy.rps, ms(r.p50), ms(r.p99), ttfb, added, r.cpu, r.cpu/caddy.cpu,
				r.rssMiB, r.anonMiB)
		}
	}
	return sb.String(), rows
}

// ms renders microseconds as milliseconds.
func ms(us float64) string { return fmt.Sprintf("%.2f ms", us/1000) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkSideBySide builds fd2 and stock Caddy, pins them to one core (the load generator and the fake
// provider get the others), and prints the table of docs/performance.md: chat and 20-token streams at 1 and
// 64 connections; throughput, latency and time to first byte added over calling the provider directly, CPU
// per request of the server process, its peak RSS. FD2_BENCH_ROUNDS (3) and FD2_BENCH_ROUND_MS (3000, the
// 64-connection rounds; 1-connection rounds are two thirds of it) size the run. One iteration is the whole
// measurement: -benchtime 1x.
func BenchmarkSideBySide(b *testing.B) {
	bins := buildBinaries(b, b.TempDir())
	p := pin(b)
	ts := setup(b, bins, p)
	round := envInt("FD2_BENCH_ROUND_MS", 3000)
	pl := plan{rounds: envInt("FD2_BENCH_ROUNDS", 3), round: round, round1: round * 2 / 3}
	for b.Loop() {
		tab := run(b, ts, pl)
		md, rows := report(ts, tab)
		b.Logf("%s; %d rounds of %d ms (64 connections) and %d ms (1), medians\n%s", p.note, pl.rounds, pl.round,
			pl.round1, md)
		for w, wl := range workloads {
			caddy := rows[w][1]
			for k, t := range ts[2:] {
				r := rows[w][k+2]
				name := strings.ReplaceAll(strings.TrimPrefix(t.name, "fd2 "), " ", "_") + "_" + wl.name + strconv.Itoa(wl.conns)
				b.ReportMetric(r.rps/caddy.rps, name+"_x_caddy_rps")
				b.ReportMetric(r.cpu/caddy.cpu, name+"_x_caddy_cpu")
				if wl.stream {
					b.ReportMetric((r.ttfb50-caddy.ttfb50)/1000, name+"_ttfb_ms_over_caddy")
				}
			}
		}
	}
}

// TestSideBySide runs the benchmark's whole harness briefly, with this test binary as both servers: every
// request of every workload must succeed (streams whole, ending in [DONE]) through every pipeline, and the
// server processes must be metered. Its numbers mean nothing (race detector, short rounds).
func TestSideBySide(t *testing.T) {
	ts := setup(t, selfBinaries(), pinning{})
	tab := run(t, ts, plan{rounds: 1, round: 300, round1: 200})
	md, rows := report(ts, tab)
	t.Logf("\n%s", md)
	for w, wl := range workloads {
		for k, tg := range ts {
			r := rows[w][k]
			if r.rps <= 0 || r.p50 <= 0 || (wl.stream && r.ttfb50 <= 0) {
				t.Errorf("%s %s/%d: no measure: %+v", tg.name, wl.name, wl.conns, r)
			}
			if tg.srv != nil && r.rssMiB <= 0 {
				t.Errorf("%s %s/%d: no RSS", tg.name, wl.name, wl.conns)
			}
		}
	}
	// CPU is counted in 10 ms ticks: over a whole run each server has used some.
	for _, tg := range ts[1:] {
		var total float64
		for w := range workloads {
			total += rows[w][indexOf(ts, tg.name)].cpu
		}
		if total <= 0 {
			t.Errorf("%s: no CPU time metered", tg.name)
		}
	}
	if n := strings.Count(md, "\n| "); n != len(workloads)*(len(ts)-1) {
		t.Errorf("table has %d rows:\n%s", n, md)
	}
}

func indexOf(ts []target, name string) int {
	for i, t := range ts {
		if t.name == name {
			return i
		}
	}
	return -1
}
