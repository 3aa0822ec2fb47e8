// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/source/redistest"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// redisMonitor counts, through MONITOR, the commands clients send to redis-server: network round trips
// (a pipeline's commands each count), not the commands scripts run inside the server.
type redisMonitor struct {
	mu   sync.Mutex
	by   map[string]int
	conn net.Conn
}

func startRedisMonitor(t *testing.T, addr string) *redisMonitor {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &redisMonitor{by: map[string]int{}, conn: c}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("MONITOR: %q %v", line, err)
	}
	go func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			// +1700000000.123456 [0 127.0.0.1:5555] "evalsha" "…" — a script's own commands say [0 lua].
			_, rest, ok := strings.Cut(line, "[")
			src, cmd, ok2 := strings.Cut(rest, "]")
			if !ok || !ok2 || strings.Contains(src, "lua") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSpace(cmd), " ")
			m.mu.Lock()
			m.by[strings.ToLower(strings.Trim(name, `"`))]++
			m.mu.Unlock()
		}
	}()
	return m
}

// take returns the commands counted since the last take, by command.
func (m *redisMonitor) take() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.by
	m.by = map[string]int{}
	return out
}

// TestRedisRoundTrips (issue 17, docs/scaling.md) counts the Redis commands one request costs, by feature,
// on an FD2 whose dsp app shares a redis-server (manifest cache, limits, API keys): a warm manifest route
// costs none, each limit a bounded number. The counts are the sizing rule's input; the bounds keep a change
// that adds round trips to the hot path from passing unnoticed.
func TestRedisRoundTrips(t *testing.T) {
	requireIntegration(t)
	addr := redistest.Start(t)
	url := "redis://" + addr + "/0"
	mon := startRedisMonitor(t, addr)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "rl", limitedManifest(hostOf(llm), 1_000_000, 3600, 1_000_000_000))
	writeManifest(t, dir, "acme", demoDoc("acme", hostOf(llm)))
	f := startFD2(t, "manifests file "+dir+"\ncache redis "+url+" {\n prefix rt:\n }", fmt.Sprintf(`
:{{HTTP}} {
	route /v1/* {
		dsp_auth {
			api_keys redis
		}
		dsp_ratelimit {
			requests 1000000000/h
			tokens 1000000000/h
		}
		dsp_openai {
			provider fake openai {
				base_url %s/v1
			}
		}
	}
	route {
		dsp_manifest
		dsp_auth
		dsp_ratelimit
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`, llm.URL))
	_, key := createRedisKey(t, url, "trips")
	chat := `{"model":"fake-gpt","messages":[{"role":"user","content":"count my round trips"}]}`
	cases := []struct {
		name         string
		method, path string
		body         string
		headers      []string
		max          float64 // bound on commands per request
	}{
		{"manifest route (memory tier warm)", "GET", "/acme/echo/x", "", nil, 0},
		{"limit-count (one script)", "GET", "/rl/count", "", nil, 1},
		{"ai-rate-limiting (reserve, settle)", "POST", "/rl/tokens", chat, nil, 2},
		// The key is verified from the in-process copy (revocations arrive by pub/sub): the three are
		// the request limit and the token reservation and settlement.
		{"static: API key in Redis + request and token limits", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + key}, 3},
	}
	const n = 40
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // warm: the manifest loaded, the key and the limit scripts cached
				expectStatus(t, do(t, tc.method, f.url(tc.path), tc.body, tc.headers...), 200)
			}
			time.Sleep(100 * time.Millisecond) // let asynchronous settles of the warm-up land
			mon.take()
			for range n {
				expectStatus(t, do(t, tc.method, f.url(tc.path), tc.body, tc.headers...), 200)
			}
			time.Sleep(100 * time.Millisecond)
			total := 0
			var by []string
			for cmd, calls := range mon.take() {
				total += calls
				by = append(by, fmt.Sprintf("%s %.2f", cmd, float64(calls)/n))
			}
			slices.Sort(by)
			per := float64(total) / n
			t.Logf("%s: %.2f Redis round trips per request (%s)", tc.name, per, strings.Join(by, ", "))
			if per > tc.max {
				t.Errorf("%.2f Redis round trips per request, want at most %v", per, tc.max)
			}
		})
	}
}
