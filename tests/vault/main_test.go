// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package vault_test runs dsp/secrets against a real Vault: Vault's own in-process test core
// (github.com/hashicorp/vault, BUSL-1.1), served over HTTP on loopback. It lives in its own Go module so
// that Vault's ~600 modules never enter the gateway's dependency graph. Run: cd tests/vault && go test ./...
package vault_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	vaulthttp "github.com/hashicorp/vault/http"
	"github.com/hashicorp/vault/vault"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dsp-ai/fd2/dsp/secrets"
)

// Secret values written into Vault. The log test asserts that none of them, nor any token or secret_id,
// ever reaches a log line.
const (
	groqV1     = "gsk_vault_version_one"
	groqV2     = "gsk_vault_version_two"
	singleVal  = "only-key-value-7f3a"
	kv1Val     = "kv1-password-91c2"
	leaseVal1  = "lease-value-first"
	leaseVal2  = "lease-value-second"
	approleVal = "approle-visible-4411"
)

// testEnv is the one unsealed core shared by every subtest of TestVault.
type testEnv struct {
	addr     string
	root     string
	rootC    *api.Client
	roleID   string
	secretID string

	logs *lockedBuffer
	mu   sync.Mutex
	// leakCheck collects every secret and token the tests handle.
	leakCheck []string
}

// TestVault starts one Vault core and runs every scenario against it. A single top-level test keeps one
// core per package (TestCoreUnsealed ties the core's lifetime to the testing.TB that created it) and
// lets the log-leak check run after all scenarios.
func TestVault(t *testing.T) {
	core, _, root := vault.TestCoreUnsealed(t)
	_, addr := vaulthttp.TestServer(t, core)
	e := &testEnv{addr: addr, root: root, logs: &lockedBuffer{}}
	e.remember(root)
	e.setup(t)

	t.Run("scenarios", func(t *testing.T) {
		t.Run("kv2_key_and_version", e.testKV2)
		t.Run("kv1", e.testKV1)
		t.Run("missing_secret", e.testMissing)
		t.Run("resolver_end_to_end", e.testResolver)
		t.Run("sas2py_resolve_env", e.testSas2py)
		t.Run("deleted_secret_on_refresh", e.testDeletedOnRefresh)
		t.Run("kv1_lease_expiry", e.testLeaseExpiry)
		t.Run("vault_down_grace", e.testVaultDown)
		t.Run("token_revoked_grace", e.testTokenRevoked)
		t.Run("probe_and_vault_up", e.testProbe)
		t.Run("background_probe", e.testBackgroundProbe)
		// These wait on Vault's real clock, so they run in parallel with each other.
		t.Run("approle_login_and_relogin", e.testAppRole)
		t.Run("token_renewal", e.testTokenRenewal)
		t.Run("background_lease_refresh", e.testBackgroundRefresh)
	})
	t.Run("no_secret_in_logs", e.testNoLeaks)
}

func (e *testEnv) remember(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.leakCheck = append(e.leakCheck, s...)
}

func (e *testEnv) setup(t *testing.T) {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: e.addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(e.root)
	e.rootC = c
	sys := c.Sys()
	// TestCoreUnsealed mounts secret/ as KV v1; the gateway's default is KV v2 there.
	if err := sys.Unmount("secret"); err != nil {
		t.Fatalf("unmounting secret/: %v", err)
	}
	if err := sys.Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mounting kv v2: %v", err)
	}
	if err := sys.Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatalf("mounting kv v1: %v", err)
	}
	if err := sys.EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enabling approle: %v", err)
	}
	if err := sys.PutPolicy("reader", `
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*"         { capabilities = ["read"] }
`); err != nil {
		t.Fatalf("writing policy: %v", err)
	}
	ctx := context.Background()
	// A fresh KV v2 mount finishes initialising asynchronously; retry the first write briefly.
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = c.KVv2("secret").Put(ctx, "groq", map[string]any{"api_key": groqV1})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("writing secret/groq v1: %v", err)
	}
	e.kv2Put(t, "groq", map[string]any{"api_key": groqV2, "org": "dsp"})
	e.kv2Put(t, "single", map[string]any{"token": singleVal})
	e.kv2Put(t, "approle-only", map[string]any{"v": approleVal})
	if _, err := c.Logical().Write("kv1/db", map[string]any{"password": kv1Val}); err != nil {
		t.Fatalf("writing kv1/db: %v", err)
	}
	if _, err := c.Logical().Write("auth/approle/role/gateway", map[string]any{
		"token_policies": "reader",
		"token_ttl":      "1h",
	}); err != nil {
		t.Fatalf("writing approle role: %v", err)
	}
	rid, err := c.Logical().Read("auth/approle/role/gateway/role-id")
	if err != nil {
		t.Fatalf("reading role-id: %v", err)
	}
	e.roleID = rid.Data["role_id"].(string)
	sid, err := c.Logical().Write("auth/approle/role/gateway/secret-id", nil)
	if err != nil {
		t.Fatalf("creating secret-id: %v", err)
	}
	e.secretID = sid.Data["secret_id"].(string)
	e.remember(groqV1, groqV2, singleVal, kv1Val, leaseVal1, leaseVal2, approleVal, e.secretID)
}

func (e *testEnv) kv2Put(t *testing.T, path string, data map[string]any) {
	t.Helper()
	if _, err := e.rootC.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("writing secret/%s: %v", path, err)
	}
}

// childToken creates a token with the reader policy.
func (e *testEnv) childToken(t *testing.T, req *api.TokenCreateRequest) string {
	t.Helper()
	req.Policies = []string{"reader"}
	sec, err := e.rootC.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("creating token: %v", err)
	}
	e.remember(sec.Auth.ClientToken)
	return sec.Auth.ClientToken
}

// logger returns a logger that writes JSON into the shared leak-checked buffer and into an observer the
// test can query.
func (e *testEnv) logger() (*zap.Logger, *observer.ObservedLogs) {
	obsCore, obs := observer.New(zapcore.DebugLevel)
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(e.logs), zapcore.DebugLevel)
	return zap.New(zapcore.NewTee(jsonCore, obsCore)), obs
}

// newVault builds a client; cfg.Address defaults to the real server and cfg.Logger to e.logger().
func (e *testEnv) newVault(t *testing.T, cfg secrets.VaultConfig) (*secrets.Vault, *observer.ObservedLogs) {
	t.Helper()
	if cfg.Address == "" {
		cfg.Address = e.addr
	}
	if cfg.Name == "" {
		cfg.Name = "dev-vault"
	}
	var obs *observer.ObservedLogs
	if cfg.Logger == nil {
		cfg.Logger, obs = e.logger()
	}
	v, err := secrets.NewVault(cfg)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	return v, obs
}

func (e *testEnv) testNoLeaks(t *testing.T) {
	out := e.logs.String()
	if len(out) < 200 {
		t.Fatalf("captured only %d bytes of logs: is the Vault client logging at all?", len(out))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.leakCheck {
		if strings.Contains(out, s) {
			t.Errorf("a secret or token (%d chars, starting %q) appears in the logs", len(s), s[:3])
		}
	}
	if !strings.Contains(out, "vault authenticated") || !strings.Contains(out, "serving cached secret") {
		t.Errorf("expected lifecycle logs are missing:\n%s", out)
	}
}

// lockedBuffer is a concurrency-safe zapcore.WriteSyncer.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Sync() error { return nil }

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is an injectable clock for cache and grace scenarios.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// proxy fronts the real Vault so a test can take "Vault" down: Close refuses new connections and drops
// the kept-alive ones, which closing Vault's own listener would not.
func (e *testEnv) proxy(t *testing.T) *httptest.Server {
	t.Helper()
	u, err := url.Parse(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

var _ http.Handler = (*httputil.ReverseProxy)(nil)
