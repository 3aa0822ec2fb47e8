// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/secrets"
)

// gaugeOf returns one instance's series of a gauge FD2's collectors report, and whether it exists.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name, vault string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "vault" && l.GetValue() == vault {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// testProbe: against a real Vault, the health probe reports a latency and a healthy status, the
// instance's metrics say it is up with its token's TTL; once Vault stops answering the probe fails
// fast (within ProbeTimeout), and fd2_secrets_vault_up goes from 1 to 0.
func (e *testEnv) testProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	const name = "probe-vault"
	px := e.proxy(t)
	tok := e.childToken(t, tokenReq{TTL: "1h"}.req())
	v, _ := e.newVault(t, secrets.VaultConfig{Name: name, Address: px.URL, Token: tok, ProbeInterval: -1})
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Read(ctx, "groq", "api_key", 0); err != nil {
		t.Fatal(err)
	}
	requests := func(op, result string) float64 {
		return testutil.ToFloat64(metrics.VaultRequests.WithLabelValues(name, op, result))
	}
	if requests("login", "ok") != 1 || requests("read", "ok") != 1 {
		t.Fatalf("requests: login ok %v, read ok %v, want 1 and 1", requests("login", "ok"), requests("read", "ok"))
	}

	d, err := v.Probe(ctx)
	if err != nil {
		t.Fatalf("probe of a running Vault: %v", err)
	}
	if d <= 0 || d >= secrets.ProbeTimeout {
		t.Fatalf("probe latency %v", d)
	}
	st := v.Status()
	if !st.Healthy || !st.Authenticated || !st.LastErrorAt.IsZero() || st.TokenTTL < 50*time.Minute ||
		time.Until(st.TokenExpiry) < 50*time.Minute {
		t.Fatalf("status after a good probe %+v", st)
	}
	if up, ok := gaugeOf(t, reg, "fd2_secrets_vault_up", name); !ok || up != 1 {
		t.Fatalf("fd2_secrets_vault_up = %v (present %v), want 1", up, ok)
	}
	if ttl, ok := gaugeOf(t, reg, "fd2_secrets_vault_token_ttl_seconds", name); !ok || ttl < 3000 || ttl > 3600 {
		t.Fatalf("fd2_secrets_vault_token_ttl_seconds = %v (present %v), want about 3600", ttl, ok)
	}

	// Stop "Vault": the proxy refuses connections and drops the kept-alive ones.
	px.CloseClientConnections()
	px.Close()
	d, err = v.Probe(ctx)
	if !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("probe of a stopped Vault: err = %v, want ErrUnavailable", err)
	}
	e.assertNoValue(t, err)
	if d <= 0 || d > secrets.ProbeTimeout+200*time.Millisecond {
		t.Fatalf("probe of a stopped Vault took %v", d)
	}
	st = v.Status()
	if st.Healthy || st.LastErrorAt.IsZero() || !strings.Contains(st.LastError, "health probe") {
		t.Fatalf("status after a failed probe %+v", st)
	}
	if up, ok := gaugeOf(t, reg, "fd2_secrets_vault_up", name); !ok || up != 0 {
		t.Fatalf("fd2_secrets_vault_up after Vault stopped = %v (present %v), want 0", up, ok)
	}
	if requests("probe", "ok") != 1 || requests("probe", "error") != 1 {
		t.Fatalf("probe requests: ok %v, error %v, want 1 and 1", requests("probe", "ok"), requests("probe", "error"))
	}

	// The client's context ends: the instance is no longer reported.
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := gaugeOf(t, reg, "fd2_secrets_vault_up", name); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a stopped client is still reported by fd2_secrets_vault_up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testBackgroundProbe: a started instance probes Vault on its own, so an outage is reported (Status and
// fd2_secrets_vault_up) while every secret is still served from cache, and recovery is reported too.
func (e *testEnv) testBackgroundProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	const name = "bg-probe-vault"
	px := e.proxy(t)
	tok := e.childToken(t, tokenReq{TTL: "1h"}.req())
	v, _ := e.newVault(t, secrets.VaultConfig{Name: name, Address: px.URL, Token: tok, ProbeInterval: 50 * time.Millisecond})
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Read(ctx, "groq", "api_key", 0); err != nil {
		t.Fatal(err)
	}
	waitUp := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			if up, ok := gaugeOf(t, reg, "fd2_secrets_vault_up", name); ok && up == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("fd2_secrets_vault_up never became %v (status %+v)", want, v.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitUp(1)
	px.CloseClientConnections()
	px.Close() // no Read, no Probe call from the test: only the background probe can notice
	waitUp(0)
	if _, err := v.Read(ctx, "groq", "api_key", 0); err != nil {
		t.Fatalf("the cached secret is no longer served during the outage: %v", err)
	}
}
