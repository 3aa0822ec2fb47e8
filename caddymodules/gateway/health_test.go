// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/dsp/source"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/internal/buildinfo"
)

func TestHealthSummarize(t *testing.T) {
	healthy := source.SourceStatus{Healthy: true, Projects: 2}
	tests := []struct {
		name       string
		src        source.SourceStatus
		rep        healthReport
		wantStatus string
		wantCode   int
	}{
		{name: "all good", src: healthy, rep: healthReport{
			Redis:    redisReport{Configured: true, OK: true},
			Vaults:   []vaultReport{{Name: "v", Healthy: true}},
			Breakers: []inference.BreakerReport{{State: "closed"}, {State: "half_open"}},
		}, wantStatus: "ok", wantCode: 200},
		{name: "source failing, cached projects", src: source.SourceStatus{Projects: 1}, wantStatus: "degraded", wantCode: 200},
		{name: "source failing, nothing cached", src: source.SourceStatus{}, wantStatus: "unavailable", wantCode: 503},
		{name: "source failing with an open breaker, nothing cached", src: source.SourceStatus{},
			rep: healthReport{Breakers: []inference.BreakerReport{{State: "open"}}}, wantStatus: "unavailable", wantCode: 503},
		{name: "redis down", src: healthy, rep: healthReport{Redis: redisReport{Configured: true}}, wantStatus: "degraded", wantCode: 200},
		{name: "one vault unhealthy", src: healthy, rep: healthReport{Vaults: []vaultReport{{Name: "a", Healthy: true}, {Name: "b"}}},
			wantStatus: "degraded", wantCode: 200},
		{name: "a breaker open", src: healthy, rep: healthReport{Breakers: []inference.BreakerReport{{State: "closed"}, {State: "open"}}},
			wantStatus: "degraded", wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code := tc.rep.summarize(tc.src)
			if code != tc.wantCode || tc.rep.Status != tc.wantStatus {
				t.Fatalf("got %d %q, want %d %q", code, tc.rep.Status, tc.wantCode, tc.wantStatus)
			}
		})
	}
}

// TestRunAllConcurrent: every probe must be running before any may finish, which only holds when they
// run concurrently (run one after the other, the first would wait for the others forever).
func TestRunAllConcurrent(t *testing.T) {
	const n = 4
	var started atomic.Int64
	all := make(chan struct{})
	var timedOut atomic.Bool
	var fns []func()
	for range n {
		fns = append(fns, func() {
			if started.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(5 * time.Second):
				timedOut.Store(true)
			}
		})
	}
	runAll(fns)
	if timedOut.Load() || started.Load() != n {
		t.Fatalf("probes ran one after the other (%d started)", started.Load())
	}
}

// fakeVault is the part of Vault's API the gateway's Vault client calls.
func fakeVault(t *testing.T, delay time.Duration, down *atomic.Bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"errors":["down"]}`)
			return
		}
		switch r.URL.Path {
		case "/v1/sys/health":
			fmt.Fprint(w, `{"initialized":true,"sealed":false,"standby":false}`)
		case "/v1/auth/token/lookup-self":
			fmt.Fprint(w, `{"data":{"ttl":3600,"renewable":false}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestReportVaultsAndBreakers provisions a dsp app with two Vault instances and checks the detailed
// report: each instance probed (concurrently), a down one degrading the status, an open breaker too,
// and no credential anywhere in the JSON.
func TestReportVaultsAndBreakers(t *testing.T) {
	const delay = 300 * time.Millisecond
	var upDown, downDown atomic.Bool
	downDown.Store(true)
	up, down := fakeVault(t, delay, &upDown), fakeVault(t, delay, &downDown)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	const token = "s.unit-report-token-93f1"
	app := &App{Vaults: map[string]*VaultConfig{
		"report-up":   {Address: up.URL, Token: token},
		"report-down": {Address: down.URL, RoleID: "role-93f1", SecretID: "secret-id-93f1"},
	}}
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Cleanup() })
	// A manifest fetch, so that the source has a latency to report.
	if _, err := app.Resolver().Get(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}

	report := func() (int, healthReport, string) {
		t.Helper()
		code, rep := app.Report(context.Background())
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		return code, rep.(healthReport), string(b)
	}
	start := time.Now()
	code, rep, js := report()
	took := time.Since(start)
	if took >= 2*delay {
		t.Errorf("the report took %v for two probes of %v each: not concurrent", took, delay)
	}
	for _, s := range []string{token, "role-93f1", "secret-id-93f1", up.URL, down.URL} {
		if strings.Contains(js, s) {
			t.Fatalf("the report shows %q: %s", s, js)
		}
	}
	if code != 200 || rep.Status != "degraded" || len(rep.Vaults) != 2 || rep.Source.LatencyMs == nil {
		t.Fatalf("report %d %s", code, js)
	}
	if b := buildinfo.Read(); rep.Version != b.Version || rep.Commit != b.Commit || rep.Version == "" ||
		!strings.Contains(js, `"version":"`+b.Version+`","commit":"`+b.Commit+`"`) {
		t.Fatalf("report without FD2's build %+v: %s", b, js)
	}
	byName := map[string]vaultReport{}
	for _, v := range rep.Vaults {
		byName[v.Name] = v
	}
	if v := byName["report-up"]; !v.Healthy || v.Error != "" || v.LatencyMs < float64(delay.Milliseconds())-1 {
		t.Fatalf("report-up: %+v", v)
	}
	if v := byName["report-down"]; v.Healthy || v.Error != "probe failed" || v.LastErrorAt == nil {
		t.Fatalf("report-down: %+v", v)
	}

	// Vault recovers: healthy again. Then an open breaker degrades the report on its own.
	downDown.Store(false)
	if code, rep, js := report(); code != 200 || rep.Status != "ok" {
		t.Fatalf("after recovery: %s", js)
	}
	inference.Breakers.Record(inference.DeploymentKey{Provider: "unit-test", Model: "report"}, inference.BreakerOpen, time.Minute)
	t.Cleanup(func() {
		inference.Breakers.Record(inference.DeploymentKey{Provider: "unit-test", Model: "report"}, inference.BreakerClosed, 0)
	})
	code, rep, js = report()
	if code != 200 || rep.Status != "degraded" || !strings.Contains(js, `{"deployment":"unit-test","model":"report","state":"open"`) {
		t.Fatalf("with an open breaker: %s", js)
	}
}
