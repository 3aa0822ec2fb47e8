// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/dsp-ai/fd2/dsp/metrics"
)

// fakeVault answers the few Vault endpoints the client uses, with switchable failures.
type fakeVault struct {
	*httptest.Server
	down     atomic.Bool  // every request answers 503 without a body Vault would send
	sealed   atomic.Bool  // sys/health reports a sealed Vault
	slow     atomic.Int64 // sys/health sleeps this long (nanoseconds)
	forbid   atomic.Bool  // authenticated endpoints answer 403
	tokenTTL int          // lookup-self's ttl, seconds
	tokens   atomic.Value // last X-Vault-Token seen on sys/health (must be "")
}

func newFakeVault(t *testing.T) *fakeVault {
	t.Helper()
	f := &fakeVault{tokenTTL: 3600}
	f.tokens.Store("")
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if f.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"errors":["down"]}`)
			return
		}
		switch {
		case r.URL.Path == "/v1/sys/health":
			f.tokens.Store(r.Header.Get("X-Vault-Token"))
			if d := time.Duration(f.slow.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
			// The client asks for 299 instead of 503 when sealed (sealedcode=299).
			if f.sealed.Load() {
				w.WriteHeader(299)
			}
			fmt.Fprintf(w, `{"initialized":true,"sealed":%t,"standby":false,"version":"1.21.0"}`, f.sealed.Load())
		case f.forbid.Load():
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errors":["permission denied"]}`)
		case r.URL.Path == "/v1/auth/token/lookup-self":
			fmt.Fprintf(w, `{"data":{"ttl":%d,"renewable":false}}`, f.tokenTTL)
		case strings.HasPrefix(r.URL.Path, "/v1/secret/data/"):
			fmt.Fprint(w, `{"data":{"data":{"k":"v"},"metadata":{"version":1}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[]}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// counter reads one fd2_secrets_vault_requests_total series.
func vaultRequests(vault, op, result string) float64 {
	return testutil.ToFloat64(metrics.VaultRequests.WithLabelValues(vault, op, result))
}

func TestVaultProbe(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(f *fakeVault)
		wantErr   bool
		wantAbove time.Duration // the probe's latency is at least this
		wantBelow time.Duration // and at most this
	}{
		{name: "healthy", setup: func(*fakeVault) {}, wantBelow: ProbeTimeout},
		{name: "sealed", setup: func(f *fakeVault) { f.sealed.Store(true) }, wantErr: true, wantBelow: ProbeTimeout},
		{name: "error status", setup: func(f *fakeVault) { f.down.Store(true) }, wantErr: true, wantBelow: ProbeTimeout},
		{name: "unreachable", setup: func(f *fakeVault) { f.Close() }, wantErr: true, wantBelow: ProbeTimeout},
		{name: "too slow: cut at ProbeTimeout", setup: func(f *fakeVault) { f.slow.Store(int64(5 * time.Second)) },
			wantErr: true, wantAbove: ProbeTimeout - 50*time.Millisecond, wantBelow: 3 * time.Second},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			name := fmt.Sprintf("probe-%d", i)
			v, err := NewVault(VaultConfig{Name: name, Address: f.URL, Token: "s.probe-token"})
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(f)
			okBefore, errBefore := vaultRequests(name, "probe", "ok"), vaultRequests(name, "probe", "error")
			d, err := v.Probe(context.Background())
			if tc.wantErr != (err != nil) {
				t.Fatalf("Probe err = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Probe err = %v, want ErrUnavailable", err)
			}
			if d <= 0 || d < tc.wantAbove || d > tc.wantBelow {
				t.Fatalf("latency %v, want in (%v, %v]", d, tc.wantAbove, tc.wantBelow)
			}
			st := v.Status()
			if st.Healthy == tc.wantErr || st.LastErrorAt.IsZero() != !tc.wantErr {
				t.Fatalf("status after probe %+v", st)
			}
			wantOK, wantFailed := okBefore+1, errBefore
			if tc.wantErr {
				wantOK, wantFailed = okBefore, errBefore+1
			}
			if got := vaultRequests(name, "probe", "ok"); got != wantOK {
				t.Errorf("probe ok requests = %v, want %v", got, wantOK)
			}
			if got := vaultRequests(name, "probe", "error"); got != wantFailed {
				t.Errorf("probe error requests = %v, want %v", got, wantFailed)
			}
			if tok, _ := f.tokens.Load().(string); tok != "" {
				t.Error("the probe sent the Vault token")
			}
		})
	}
}

// TestVaultHealthTransitions: a probe's success clears a probe's failure, never a failed login or read.
func TestVaultHealthTransitions(t *testing.T) {
	ctx := context.Background()
	f := newFakeVault(t)
	v, err := NewVault(VaultConfig{Name: "transitions", Address: f.URL, Token: "s.t"})
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, do func(), wantHealthy bool) {
		t.Helper()
		do()
		if st := v.Status(); st.Healthy != wantHealthy {
			t.Fatalf("%s: status %+v, want healthy %v", name, st, wantHealthy)
		}
	}
	probe := func() { _, _ = v.Probe(ctx) }
	step("fresh", func() {}, false)
	step("first probe succeeds", probe, true)
	step("probe fails", func() { f.down.Store(true); probe() }, false)
	step("probe succeeds again", func() { f.down.Store(false); probe() }, true)
	step("login refused", func() {
		f.forbid.Store(true)
		if err := v.Start(ctx); err == nil {
			t.Fatal("Start with a refused token succeeded")
		}
	}, false)
	step("a good probe does not vouch for the token", probe, false)
	step("read works again", func() {
		f.forbid.Store(false)
		if _, err := v.Read(ctx, "x", "k", 0); err != nil {
			t.Fatal(err)
		}
	}, true)
	if st := v.Status(); st.LastError != "" || st.LastErrorAt.IsZero() {
		t.Fatalf("after recovery: %+v (the error is cleared, its time kept)", st)
	}
}

// vaultSeries gathers fd2_secrets_vault_up and fd2_secrets_vault_token_ttl_seconds for one instance from
// a registry holding FD2's collectors; ok is false when the series is absent.
func vaultSeries(t *testing.T, reg *prometheus.Registry, metric, vault string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "vault") == vault {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestVaultMetrics: a started instance is reported up with its token TTL, down after a failed probe, and
// no longer reported once its context ends.
func TestVaultMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	f := newFakeVault(t)
	f.tokenTTL = 600
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := NewVault(VaultConfig{Name: "metrics-vault", Address: f.URL, Token: "s.m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := vaultSeries(t, reg, "fd2_secrets_vault_up", "metrics-vault"); ok {
		t.Fatal("an instance that was never started is reported")
	}
	loginsBefore := vaultRequests("metrics-vault", "login", "ok")
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := vaultRequests("metrics-vault", "login", "ok"); got != loginsBefore+1 {
		t.Fatalf("login requests = %v, want %v", got, loginsBefore+1)
	}
	if up, ok := vaultSeries(t, reg, "fd2_secrets_vault_up", "metrics-vault"); !ok || up != 1 {
		t.Fatalf("vault_up = %v (present %v), want 1", up, ok)
	}
	if ttl, ok := vaultSeries(t, reg, "fd2_secrets_vault_token_ttl_seconds", "metrics-vault"); !ok || ttl <= 590 || ttl > 600 {
		t.Fatalf("token ttl = %v (present %v), want about 600", ttl, ok)
	}
	f.down.Store(true)
	if _, err := v.Probe(context.Background()); err == nil {
		t.Fatal("probe of a down Vault succeeded")
	}
	if up, ok := vaultSeries(t, reg, "fd2_secrets_vault_up", "metrics-vault"); !ok || up != 0 {
		t.Fatalf("vault_up after a failed probe = %v (present %v), want 0", up, ok)
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := vaultSeries(t, reg, "fd2_secrets_vault_up", "metrics-vault"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance is still reported after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestVaultCollectorSameName: two clients with one instance name are one series, down if either is.
func TestVaultCollectorSameName(t *testing.T) {
	c := &metrics.VaultCollector{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	c.Track(1, "twin", func() metrics.VaultState { return metrics.VaultState{Up: true, TokenTTL: time.Hour, Expires: true} })
	c.Track(2, "twin", func() metrics.VaultState { return metrics.VaultState{Up: false, TokenTTL: time.Minute, Expires: true} })
	c.Track(3, "root", func() metrics.VaultState { return metrics.VaultState{Up: true} })
	if up, _ := vaultSeries(t, reg, "fd2_secrets_vault_up", "twin"); up != 0 {
		t.Fatalf("twin up = %v, want 0", up)
	}
	if ttl, _ := vaultSeries(t, reg, "fd2_secrets_vault_token_ttl_seconds", "twin"); ttl != 60 {
		t.Fatalf("twin ttl = %v, want the shortest, 60", ttl)
	}
	if _, ok := vaultSeries(t, reg, "fd2_secrets_vault_token_ttl_seconds", "root"); ok {
		t.Fatal("a token that never expires has a TTL series")
	}
	c.Untrack(2)
	if up, _ := vaultSeries(t, reg, "fd2_secrets_vault_up", "twin"); up != 1 {
		t.Fatalf("twin up after untracking the down one = %v, want 1", up)
	}
}

func TestResolutionMetrics(t *testing.T) {
	f := newFakeVault(t)
	v, err := NewVault(VaultConfig{Name: "res", Address: f.URL, Token: "s.r"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{
		Vaults:        map[string]*Vault{"res": v},
		Config:        map[string]any{"a": map[string]any{"b": "c"}},
		EncryptionKey: "unit-test-passphrase",
		Getenv:        func(k string) (string, bool) { return "x", k == "SET" },
	}
	enc, err := r.Encrypt("plaintext")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ref, backend, result string
	}{
		{name: "env ok", ref: "env:SET", backend: "env", result: "ok"},
		{name: "env unset", ref: "env:UNSET", backend: "env", result: "error"},
		{name: "env malformed", ref: "env:", backend: "env", result: "error"},
		{name: "config ok", ref: "config:a.b", backend: "config", result: "ok"},
		{name: "config missing", ref: "config:a.x", backend: "config", result: "error"},
		{name: "encrypted ok", ref: enc, backend: "encrypted", result: "ok"},
		{name: "encrypted tampered", ref: enc[:len(enc)-4] + "AAAA", backend: "encrypted", result: "error"},
		{name: "literal", ref: "literal:x", backend: "literal", result: "ok"},
		{name: "vault ok", ref: "vault:res:secret/x#k", backend: "vault", result: "ok"},
		{name: "vault unknown instance", ref: "vault:nope:secret/x#k", backend: "vault", result: "error"},
		{name: "vault malformed", ref: "vault:res", backend: "vault", result: "error"},
		{name: "plain string: not a resolution", ref: "just text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]float64{}
			for _, b := range []string{"vault", "config", "env", "encrypted", "literal"} {
				for _, res := range []string{"ok", "error"} {
					before[b+"/"+res] = testutil.ToFloat64(metrics.SecretResolutions.WithLabelValues(b, res))
				}
			}
			_, _ = r.Resolve(context.Background(), tc.ref)
			for k, was := range before {
				want := was
				if k == tc.backend+"/"+tc.result {
					want++
				}
				b, res, _ := strings.Cut(k, "/")
				if got := testutil.ToFloat64(metrics.SecretResolutions.WithLabelValues(b, res)); got != want {
					t.Errorf("resolutions{backend=%s,result=%s} = %v, want %v", b, res, got, want)
				}
			}
		})
	}
}

// TestPrepare: a failing Prepare fails a Vault resolution as ErrUnavailable without reading, and is not
// consulted for other backends.
func TestPrepare(t *testing.T) {
	f := newFakeVault(t)
	v, err := NewVault(VaultConfig{Name: "prep", Address: f.URL, Token: "s.p"})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	r := &Resolver{Vaults: map[string]*Vault{"prep": v}, Getenv: func(string) (string, bool) { return "e", true },
		Prepare: func(_ context.Context, got *Vault) error {
			calls.Add(1)
			if got != v {
				t.Errorf("Prepare got another instance")
			}
			return errors.New("login refused")
		}}
	readsBefore := vaultRequests("prep", "read", "ok") + vaultRequests("prep", "read", "error")
	if _, err := r.Resolve(context.Background(), "vault://secret/x#k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if _, err := r.Resolve(context.Background(), "env:X"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("Prepare called %d times, want 1", calls.Load())
	}
	if got := vaultRequests("prep", "read", "ok") + vaultRequests("prep", "read", "error"); got != readsBefore {
		t.Fatal("Vault was read although Prepare failed")
	}
}
