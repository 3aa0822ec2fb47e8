// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package vault_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/dsp-ai/fd2/dsp/secrets"
)

type apiTokenCreateRequest = api.TokenCreateRequest

func (e *testEnv) testAppRole(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, obs := e.newVault(t, secrets.VaultConfig{RoleID: e.roleID, SecretID: e.secretID})
	if err := v.Start(ctx); err != nil {
		t.Fatalf("approle Start: %v", err)
	}
	st := v.Status()
	if !st.Healthy || st.TokenTTL < 50*time.Minute {
		t.Fatalf("status after login %+v", st)
	}
	if got, err := v.Read(ctx, "approle-only", "v", 0); err != nil || got.Reveal() != approleVal {
		t.Fatalf("read = %q, %v", got.Reveal(), err)
	}
	// Revoke every token AppRole ever issued; the next Vault call gets 403 and must log in again.
	if err := e.rootC.Sys().RevokePrefix("auth/approle/login"); err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after revocation: %v", err)
	}
	if obs.FilterMessage("vault rejected the token, logging in again").Len() == 0 {
		t.Fatal("no re-login happened: was the token really revoked?")
	}
	if obs.FilterMessage("vault authenticated").Len() != 2 {
		t.Fatalf("want 2 logins, got %d", obs.FilterMessage("vault authenticated").Len())
	}
	if got, err := v.Read(ctx, "single", "token", 0); err != nil || got.Reveal() != singleVal {
		t.Fatalf("read after re-login = %q, %v", got.Reveal(), err)
	}
	if !v.Status().Healthy {
		t.Fatalf("status %+v", v.Status())
	}

	t.Run("bad secret_id", func(t *testing.T) {
		bad, _ := e.newVault(t, secrets.VaultConfig{Name: "bad", RoleID: e.roleID, SecretID: "00000000-0000-0000-0000-000000000000"})
		err := bad.Start(ctx)
		if !errors.Is(err, secrets.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if bad.Status().Healthy || bad.Status().LastError == "" {
			t.Fatalf("status %+v", bad.Status())
		}
	})
}

func (e *testEnv) testTokenRenewal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	const ttl = 4 * time.Second
	tok := e.childToken(t, tokenReq{TTL: "4s", MaxTTL: "1m"}.req())
	v, obs := e.newVault(t, secrets.VaultConfig{Token: tok})
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := v.Status().TokenTTL; got > ttl || got < time.Second {
		t.Fatalf("TokenTTL = %v, want about %v", got, ttl)
	}
	time.Sleep(2*ttl + time.Second) // well past the original TTL
	// Vault itself must still know the token…
	look, err := e.rootC.Auth().Token().Lookup(tok)
	if err != nil {
		t.Fatalf("token expired despite renewal: %v", err)
	}
	// Vault reports "ttl" in whole seconds (0 in the last second), so judge by expire_time instead.
	exp, err := look.TokenTTL()
	if err != nil {
		t.Fatal(err)
	}
	expStr, _ := look.Data["expire_time"].(string)
	expireAt, err := time.Parse(time.RFC3339Nano, expStr)
	if err != nil || !expireAt.After(time.Now()) {
		t.Fatalf("token expire_time %v (ttl %v), err %v: not renewed", look.Data["expire_time"], exp, err)
	}
	// …and it must still work for reads.
	if got, err := v.Read(ctx, "groq", "api_key", 1); err != nil || got.Reveal() != groqV1 {
		t.Fatalf("read with the renewed token = %q, %v", got.Reveal(), err)
	}
	if n := obs.FilterMessage("vault token renewed").Len(); n < 2 {
		t.Fatalf("renewed %d times in %v, want at least 2", n, 2*ttl+time.Second)
	}
	if st := v.Status(); !st.Healthy || st.TokenTTL <= 0 {
		t.Fatalf("status %+v", st)
	}
}

// With Start running, a leased secret is re-read in the background before its lease ends: after the
// lease, with Vault down, Read serves the value written after the first read, which only the
// background refresh can have fetched.
func (e *testEnv) testBackgroundRefresh(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := e.rootC.Logical().Write("kv1/bg", map[string]any{"password": leaseVal1, "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	px := e.proxy(t)
	v, _ := e.newVault(t, secrets.VaultConfig{Address: px.URL, Token: e.root, KVMount: "kv1", KVVersion: 1, CacheTTL: time.Hour})
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Read(ctx, "bg", "password", 0); err != nil || got.Reveal() != leaseVal1 {
		t.Fatalf("first read = %q, %v", got.Reveal(), err)
	}
	if _, err := e.rootC.Logical().Write("kv1/bg", map[string]any{"password": leaseVal2, "ttl": "2s"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1800 * time.Millisecond) // past the refresh point (2/3 of 2 s), before the lease ends
	px.CloseClientConnections()
	px.Close()
	time.Sleep(500 * time.Millisecond) // now past the lease
	got, err := v.Read(ctx, "bg", "password", 0)
	if err != nil || got.Reveal() != leaseVal2 {
		t.Fatalf("read = %q, %v, want the value the background refresh fetched", got.Reveal(), err)
	}
}
