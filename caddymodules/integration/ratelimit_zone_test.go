// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"strings"
	"testing"
)

// zoneSites are two sites on one listener, each with its own static `requests 3/1000h` policy (a window
// no test run crosses). zoneA and zoneB are extra subdirectives of each handler (a `zone` line, or "").
func zoneSites(store, zoneA, zoneB string) string {
	site := func(host, zone string) string {
		return fmt.Sprintf(`
http://%s:{{HTTP}} {
	handle /ready {
		respond 204
	}
	handle {
		dsp_ratelimit {
			requests 3/1000h
			by ip
			store %s
			%s
		}
		respond "%s" 200
	}
	handle_errors {
		dsp_error
	}
}
`, host, store, zone, host)
	}
	return site("a.test", zoneA) + site("b.test", zoneB)
}

// TestRateLimitZones (issue 12 #9): static policies of two sites count apart — each admits its own 3 —
// with the memory store and with Redis; their counts survive a reload of the same config, site by site
// (a site's position does not move to the other); and two sites that name the same zone share 3.
func TestRateLimitZones(t *testing.T) {
	requireIntegration(t)
	rp := startRedisProc(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			dsp := ""
			if store == "redis" {
				dsp = fmt.Sprintf("cache redis redis://%s/0", rp.addr())
			}
			admit := func(f *fd2, host string, n int) (ok int) {
				t.Helper()
				for i := 0; i < n; i++ {
					r := do(t, "GET", f.url("/"), "", "Host", host)
					switch r.status {
					case 200:
						if string(r.body) != host {
							t.Fatalf("%s answered %q", host, r.body)
						}
						ok++
					case 429:
						if r.errorCode(t) != "rate_limit_exceeded" {
							t.Fatalf("429 body %s", r.body)
						}
					default:
						t.Fatalf("%s: status %d: %s", host, r.status, r.body)
					}
				}
				return ok
			}

			// reload loads a config and waits until it serves both sites, on fresh connections: a request on
			// a connection of the config being replaced could be refused by its shutdown, and its count lost.
			reload := func(f *fd2, body string) {
				t.Helper()
				f.load(dsp, body)
				client.CloseIdleConnections()
				for _, host := range []string{"a.test", "b.test"} {
					if r := do(t, "GET", f.url("/ready"), "", "Host", host); r.status != 204 {
						t.Fatalf("%s not ready: %d %s", host, r.status, r.body)
					}
				}
			}

			f := startFD2(t, dsp, zoneSites(store, "", ""))
			if got := admit(f, "a.test", 4); got != 3 {
				t.Fatalf("site a admitted %d of 4, want 3", got)
			}
			if got := admit(f, "b.test", 1); got != 1 {
				t.Fatalf("site b admitted %d of its first request after site a used its limit", got)
			}
			// The same config again: each site keeps its own count (a: 3 used, b: 1 used).
			reload(f, zoneSites(store, "", ""))
			if got := admit(f, "a.test", 1); got != 0 {
				t.Fatalf("after a reload site a admitted %d more, want 0 (its count was lost or swapped)", got)
			}
			if got := admit(f, "b.test", 3); got != 2 {
				t.Fatalf("after a reload site b admitted %d of 3, want its remaining 2", got)
			}

			// Named zones: a fresh pair of counters, shared by both sites.
			reload(f, zoneSites(store, "zone shared-"+store, "zone shared-"+store))
			a := admit(f, "a.test", 2)
			b := admit(f, "b.test", 2)
			if a != 2 || b != 1 {
				t.Fatalf("one zone over two sites admitted a=%d b=%d, want 2 and 1 (3 between them)", a, b)
			}
			m := string(do(t, "GET", f.adminURL("/metrics"), "").body)
			if !strings.Contains(m, `fd2_ratelimit_decisions_total{policy="static",result="rejected"}`) {
				t.Fatalf("no static rejection counted:\n%s", grepLines(m, "fd2_ratelimit"))
			}
		})
	}
}
