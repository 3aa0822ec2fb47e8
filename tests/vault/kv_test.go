// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/secrets"
)

// assertNoValue fails when an error message carries any known secret.
func (e *testEnv) assertNoValue(t *testing.T, err error) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.leakCheck {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error leaks a secret: %v", err)
		}
	}
}

func (e *testEnv) testKV2(t *testing.T) {
	v, _ := e.newVault(t, secrets.VaultConfig{Token: e.childToken(t, tokenReq{TTL: "1h"}.req())})
	ctx := context.Background()
	tests := []struct {
		name, path, key string
		version         int
		want            string
	}{
		{"latest", "groq", "api_key", 0, groqV2},
		{"version 1", "groq", "api_key", 1, groqV1},
		{"version 2", "groq", "api_key", 2, groqV2},
		{"mount prefix stripped", "secret/groq", "api_key", 0, groqV2},
		{"other key", "groq", "org", 0, "dsp"},
		{"only key by default", "single", "", 0, singleVal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Read(ctx, tc.path, tc.key, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tc.want {
				t.Fatalf("got %q, want %q", got.Reveal(), tc.want)
			}
		})
	}
	t.Run("several keys need #key", func(t *testing.T) {
		_, err := v.Read(ctx, "groq", "", 0)
		if !errors.Is(err, secrets.ErrInvalidRef) {
			t.Fatalf("err = %v, want ErrInvalidRef", err)
		}
		e.assertNoValue(t, err)
	})
	st := v.Status()
	if !st.Healthy || st.Cached != len(tests)-1 || st.TokenTTL != 0 { // "mount prefix stripped" shares "latest"'s entry
		// TokenTTL stays 0 without Start: the token was never looked up.
		t.Fatalf("status %+v", st)
	}
}

// tokenReq keeps token creation one-liners readable.
type tokenReq struct{ TTL, MaxTTL string }

func (r tokenReq) req() *apiTokenCreateRequest {
	renewable := true
	return &apiTokenCreateRequest{TTL: r.TTL, ExplicitMaxTTL: r.MaxTTL, Renewable: &renewable}
}

func (e *testEnv) testKV1(t *testing.T) {
	v, _ := e.newVault(t, secrets.VaultConfig{Token: e.root, KVMount: "kv1", KVVersion: 1})
	ctx := context.Background()
	got, err := v.Read(ctx, "db", "password", 0)
	if err != nil || got.Reveal() != kv1Val {
		t.Fatalf("kv1/db#password = %q, %v", got.Reveal(), err)
	}
	got, err = v.Read(ctx, "kv1/db", "", 0)
	if err != nil || got.Reveal() != kv1Val {
		t.Fatalf("kv1/db (only key) = %q, %v", got.Reveal(), err)
	}
	if _, err := v.Read(ctx, "db", "password", 1); !errors.Is(err, secrets.ErrInvalidRef) {
		t.Fatalf("version on kv1: err = %v", err)
	}
}

func (e *testEnv) testMissing(t *testing.T) {
	v, _ := e.newVault(t, secrets.VaultConfig{Token: e.root})
	ctx := context.Background()
	tests := []struct {
		name, path, key string
		version         int
		mention         []string
	}{
		{"missing secret", "nope/missing", "api_key", 0, []string{"secret/nope/missing"}},
		{"missing key", "groq", "no_such_key", 0, []string{"secret/groq", "no_such_key"}},
		{"missing version", "groq", "api_key", 99, []string{"secret/groq"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Read(ctx, tc.path, tc.key, tc.version)
			if !errors.Is(err, secrets.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not name %q", err, m)
				}
			}
			e.assertNoValue(t, err)
		})
	}
	if st := v.Status(); st.Cached != 0 || !st.Healthy {
		t.Fatalf("not-found answers must not be cached and Vault stays healthy: %+v", st)
	}
}

func (e *testEnv) testDeletedOnRefresh(t *testing.T) {
	e.kv2Put(t, "temp", map[string]any{"k": "temporary-value-55"})
	e.remember("temporary-value-55")
	v, _ := e.newVault(t, secrets.VaultConfig{Token: e.root})
	ctx := context.Background()
	if got, err := v.Read(ctx, "temp", "k", 0); err != nil || got.Reveal() != "temporary-value-55" {
		t.Fatalf("read = %q, %v", got.Reveal(), err)
	}
	if _, err := v.Read(ctx, "groq", "api_key", 0); err != nil {
		t.Fatal(err)
	}
	// A soft delete: Vault answers 404 with the version's metadata and "data": null.
	if err := e.rootC.KVv2("secret").Delete(ctx, "temp"); err != nil {
		t.Fatal(err)
	}
	err := v.Refresh(ctx)
	if !errors.Is(err, secrets.ErrNotFound) || !strings.Contains(err.Error(), "secret/temp") {
		t.Fatalf("Refresh err = %v, want ErrNotFound naming secret/temp", err)
	}
	e.assertNoValue(t, err)
	if _, err := v.Read(ctx, "temp", "k", 0); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("read after delete: err = %v", err)
	}
	if st := v.Status(); st.Cached != 1 {
		t.Fatalf("only secret/groq should stay cached: %+v", st)
	}
}

// KV v1 turns a "ttl" field into the read's lease_duration: the cache must honour it over CacheTTL.
func (e *testEnv) testLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	if _, err := e.rootC.Logical().Write("kv1/lease", map[string]any{"password": leaseVal1, "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	v, _ := e.newVault(t, secrets.VaultConfig{Token: e.root, KVMount: "kv1", KVVersion: 1, CacheTTL: time.Hour, Now: clk.Now})
	if got, err := v.Read(ctx, "lease", "password", 0); err != nil || got.Reveal() != leaseVal1 {
		t.Fatalf("first read = %q, %v", got.Reveal(), err)
	}
	// The default key skips KV v1's "ttl" field.
	if got, err := v.Read(ctx, "lease", "", 0); err != nil || got.Reveal() != leaseVal1 {
		t.Fatalf("default key = %q, %v", got.Reveal(), err)
	}
	if _, err := e.rootC.Logical().Write("kv1/lease", map[string]any{"password": leaseVal2, "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if got, _ := v.Read(ctx, "lease", "password", 0); got.Reveal() != leaseVal1 {
		t.Fatalf("within the lease: got %q, want the cached first value", got.Reveal())
	}
	clk.Advance(1500 * time.Millisecond)
	if got, err := v.Read(ctx, "lease", "password", 0); err != nil || got.Reveal() != leaseVal2 {
		t.Fatalf("after the lease: got %q, %v, want the new value", got.Reveal(), err)
	}
}

func (e *testEnv) testVaultDown(t *testing.T) {
	ctx := context.Background()
	px := e.proxy(t)
	clk := newFakeClock()
	v, obs := e.newVault(t, secrets.VaultConfig{Address: px.URL, Token: e.root, Now: clk.Now, CacheTTL: 5 * time.Minute, Grace: 10 * time.Minute})
	if got, err := v.Read(ctx, "groq", "api_key", 0); err != nil || got.Reveal() != groqV2 {
		t.Fatalf("read = %q, %v", got.Reveal(), err)
	}
	px.CloseClientConnections()
	px.Close()

	steps := []struct {
		name    string
		advance time.Duration
		want    string
		wantErr error
		healthy bool
	}{
		{name: "fresh cache, Vault not asked", advance: 30 * time.Second, want: groqV2, healthy: true},
		{name: "expired, within grace", advance: 6 * time.Minute, want: groqV2},
		{name: "near the end of grace", advance: 8 * time.Minute, want: groqV2},
		{name: "past expiry plus grace", advance: 2 * time.Minute, wantErr: secrets.ErrUnavailable},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		got, err := v.Read(ctx, "groq", "api_key", 0)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
			}
			e.assertNoValue(t, err)
			continue
		}
		if err != nil || got.Reveal() != s.want {
			t.Fatalf("%s: got %q, %v", s.name, got.Reveal(), err)
		}
		if st := v.Status(); st.Healthy != s.healthy {
			t.Fatalf("%s: status %+v", s.name, st)
		}
	}
	if _, err := v.Read(ctx, "single", "token", 0); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("uncached secret while down: err = %v", err)
	}
	st := v.Status()
	if st.Healthy || st.LastError == "" {
		t.Fatalf("status while down %+v", st)
	}
	if obs.FilterMessage("vault unavailable, serving cached secret within grace").Len() == 0 {
		t.Fatal("serving from grace was not logged")
	}
}

func (e *testEnv) testTokenRevoked(t *testing.T) {
	ctx := context.Background()
	tok := e.childToken(t, tokenReq{TTL: "1h"}.req())
	clk := newFakeClock()
	v, _ := e.newVault(t, secrets.VaultConfig{Token: tok, Now: clk.Now, CacheTTL: time.Minute, Grace: 10 * time.Minute})
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl := v.Status().TokenTTL; ttl < 50*time.Minute || ttl > time.Hour {
		t.Fatalf("TokenTTL after lookup-self = %v, want about 1h", ttl)
	}
	if _, err := v.Read(ctx, "groq", "api_key", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.rootC.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	err := v.Refresh(ctx)
	if !errors.Is(err, secrets.ErrUnavailable) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Refresh with a revoked token: err = %v, want ErrUnavailable (403)", err)
	}
	e.assertNoValue(t, err)
	clk.Advance(5 * time.Minute) // past CacheTTL, within Grace
	if got, err := v.Read(ctx, "groq", "api_key", 0); err != nil || got.Reveal() != groqV2 {
		t.Fatalf("within grace: %q, %v", got.Reveal(), err)
	}
	clk.Advance(6 * time.Minute) // 11m > 1m + 10m
	if _, err := v.Read(ctx, "groq", "api_key", 0); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("after grace: err = %v, want ErrUnavailable", err)
	}
	if st := v.Status(); st.Healthy || !strings.Contains(st.LastError, "403") {
		t.Fatalf("status %+v", st)
	}
}
