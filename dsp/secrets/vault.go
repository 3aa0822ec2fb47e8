// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/dsp/metrics"
)

// VaultConfig configures one Vault instance (one entry of the vault module's vault_instances). The dsp app
// resolves env:/config:/encrypted: references in Token, RoleID and SecretID before calling NewVault.
type VaultConfig struct {
	// Name is the instance_name that vault:<instance>:… references use. Required.
	Name string
	// Address is the Vault URL (vault_url), e.g. https://vault.example:8200. Required.
	Address string
	// Token authenticates with a Vault token (auth_method "token"). Ignored when RoleID is set.
	Token string
	// RoleID and SecretID authenticate with AppRole (auth_method "approle", POST auth/approle/login).
	// AppRole is preferred for long-running gateways: an expired or revoked token is replaced by logging in
	// again, whereas a static Token cannot be renewed past its max TTL.
	RoleID, SecretID string
	// Namespace is sent as X-Vault-Namespace (Vault Enterprise / HCP). Empty means the root namespace.
	Namespace string
	// KVMount is the KV secrets engine mount (kv_mount_point). Default "secret".
	KVMount string
	// KVVersion is the KV engine version, 1 or 2 (kv_version). Default 2. Only v2 has @version.
	KVVersion int
	// InsecureSkipVerify disables TLS verification (verify_ssl false). Never use it in production.
	InsecureSkipVerify bool
	// CACert is a PEM CA bundle that signs Vault's certificate: a file path, or the PEM text itself.
	CACert string
	// Timeout bounds each HTTP request to Vault (timeout). Default 30s.
	Timeout time.Duration
	// CacheTTL is how long a secret without a lease (every KV v2 read) is served from cache before it is
	// read again. Secrets with a lease_duration (dynamic secrets, KV v1 with a ttl field) are cached for
	// their lease instead. Default 5m.
	CacheTTL time.Duration
	// Grace is how long past its expiry a cached secret is still served while Vault cannot be reached or
	// refuses our token. After that, reads fail with ErrUnavailable. Default 10m. Vault's own "not found"
	// answers are never covered by Grace: they evict the entry at once.
	Grace time.Duration
	// ProbeInterval is how often a started instance probes Vault's health (sys/health) in the background, so
	// that an outage shows in Status and fd2_secrets_vault_up (and fires alerts) even while every secret is
	// served from cache. Default 30s; negative disables the background probe.
	ProbeInterval time.Duration
	// Now is the clock. Defaults to time.Now; tests inject a fake one.
	Now func() time.Time
	// Logger receives lifecycle and failure logs. It never sees secret values or tokens. Default: no-op.
	Logger *zap.Logger
}

// VaultStatus is a snapshot of an instance's health, for the admin API, the health report and metrics.
// It never holds a token, a role or secret id, or a secret value.
type VaultStatus struct {
	Name string `json:"name"`
	// Healthy is true when the last Vault call succeeded: a read, a login, a token renewal or a health
	// probe (Probe). A successful probe only clears a failed probe's mark (or is the first call): it shows
	// that Vault answers, not that the token is still good after a failed read or login. False before the
	// first call.
	Healthy bool `json:"healthy"`
	// Authenticated is true once a login (AppRole) or the token's lookup-self (Start) has succeeded.
	Authenticated bool `json:"authenticated"`
	// LastError is the last Vault failure (paths and HTTP errors only, never values), empty when healthy.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when the last failure happened, healthy since or not; zero if none ever did.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// TokenTTL is the token's remaining lifetime; 0 for a non-expiring token or before login.
	TokenTTL time.Duration `json:"token_ttl"`
	// TokenExpiry is when the token expires; zero for a non-expiring token or before login.
	TokenExpiry time.Time `json:"token_expiry,omitzero"`
	// Cached is the number of cached secrets.
	Cached int `json:"cached"`
}

// Vault is a caching client for one Vault instance. It is safe for concurrent use.
//
// Reads are cached per (mount, path, key, version). Start runs the background work: token renewal at
// about two thirds of the token's TTL (AppRole logs in again when renewal fails) and the refresh of cached
// secrets at two thirds of their lifetime, so that hot secrets are rarely read on the request path.
type Vault struct {
	cfg    VaultConfig
	client *api.Client
	probe  *api.Client // token-less, namespace-less, no retries: sys/health only
	log    *zap.Logger
	sf     singleflight.Group
	wake   chan struct{}
	ops    [numOps]opMetrics

	loginMu sync.Mutex // serialises logins so that a burst of 403s logs in once

	mu          sync.Mutex
	cache       map[cacheKey]*cacheEntry
	tokenExpiry time.Time // zero: never expires (root token) or unknown
	renewAt     time.Time // zero: nothing to renew
	renewable   bool
	loggedIn    bool
	healthy     bool
	lastErr     string
	lastErrAt   time.Time
	probeFailed bool // the current failure is a failed probe's
	loginFails  int
	tracked     bool // reported by metrics.Vaults since Start
}

// Vault operations, as fd2_secrets_vault_requests_total's op label names them.
type vaultOp int

const (
	opRead vaultOp = iota
	opLogin
	opRenew
	opProbe
	numOps
)

var opNames = [numOps]string{opRead: "read", opLogin: "login", opRenew: "renew", opProbe: "probe"}

// opMetrics are one operation's series, bound once per instance in NewVault.
type opMetrics struct {
	ok, failed prometheus.Counter
	duration   prometheus.Observer
}

type cacheKey struct {
	mount, path, key string
	version          int
}

func (k cacheKey) String() string {
	s := k.mount + "/" + k.path
	if k.key != "" {
		s += "#" + k.key
	}
	if k.version > 0 {
		s += "@" + strconv.Itoa(k.version)
	}
	return s
}

type cacheEntry struct {
	val       Value
	expires   time.Time // end of the lease or CacheTTL
	refreshAt time.Time // when the background loop re-reads it
	ttl       time.Duration
}

// NewVault builds the client without contacting Vault; call Start to log in.
func NewVault(cfg VaultConfig) (*Vault, error) {
	if cfg.Name == "" {
		return nil, errors.New("vault instance: name is required")
	}
	if cfg.Address == "" {
		return nil, fmt.Errorf("vault %q: address is required", cfg.Name)
	}
	if cfg.Token == "" && (cfg.RoleID == "" || cfg.SecretID == "") {
		return nil, fmt.Errorf("vault %q: a token or an AppRole role_id and secret_id are required", cfg.Name)
	}
	if cfg.KVMount == "" {
		cfg.KVMount = "secret"
	}
	cfg.KVMount = strings.Trim(cfg.KVMount, "/")
	switch cfg.KVVersion {
	case 0:
		cfg.KVVersion = 2
	case 1, 2:
	default:
		return nil, fmt.Errorf("vault %q: kv_version must be 1 or 2, got %d", cfg.Name, cfg.KVVersion)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Minute
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}

	// api.DefaultConfig reads VAULT_* variables; everything that matters is overridden below so that the
	// gateway's behaviour depends on its config only.
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault %q: default config: %w", cfg.Name, ac.Error)
	}
	ac.Address = cfg.Address
	ac.Timeout = cfg.Timeout
	// Few, quick retries: the cache and Grace, not the HTTP client, are what ride out an outage, and a
	// request should not hang for the api package's default 2×(1–1.5 s) backoff.
	ac.MaxRetries = 1
	ac.MinRetryWait = 100 * time.Millisecond
	ac.MaxRetryWait = 500 * time.Millisecond
	tls := &api.TLSConfig{Insecure: cfg.InsecureSkipVerify}
	if strings.Contains(cfg.CACert, "-----BEGIN") {
		tls.CACertBytes = []byte(cfg.CACert)
	} else {
		tls.CACert = cfg.CACert
	}
	if strings.HasPrefix(cfg.Address, "https:") || cfg.CACert != "" || cfg.InsecureSkipVerify {
		if err := ac.ConfigureTLS(tls); err != nil {
			return nil, fmt.Errorf("vault %q: configuring TLS: %w", cfg.Name, err)
		}
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault %q: creating client: %w", cfg.Name, err)
	}
	client.ClearToken() // NewClient picks up VAULT_TOKEN
	client.ClearNamespace()
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	v := &Vault{
		cfg:    cfg,
		client: client,
		log:    cfg.Logger.With(zap.String("vault_instance", cfg.Name)),
		wake:   make(chan struct{}, 1),
		cache:  make(map[cacheKey]*cacheEntry),
	}
	if !v.approle() {
		client.SetToken(cfg.Token)
	}
	if v.probe, err = client.Clone(); err != nil {
		return nil, fmt.Errorf("vault %q: creating probe client: %w", cfg.Name, err)
	}
	// sys/health needs no token, and lives in the root namespace; a probe must not hide an outage behind
	// retries.
	v.probe.ClearToken()
	v.probe.ClearNamespace()
	v.probe.SetMaxRetries(0)
	for op, name := range opNames {
		v.ops[op] = opMetrics{
			ok:       metrics.VaultRequests.WithLabelValues(cfg.Name, name, "ok"),
			failed:   metrics.VaultRequests.WithLabelValues(cfg.Name, name, "error"),
			duration: metrics.VaultRequestDuration.WithLabelValues(cfg.Name, name),
		}
	}
	return v, nil
}

// Name returns the instance name.
func (v *Vault) Name() string { return v.cfg.Name }

func (v *Vault) approle() bool { return v.cfg.RoleID != "" }

// Start authenticates (token: lookup-self to learn the TTL; AppRole: login) and starts the background
// goroutine, which returns when ctx is done. A login failure is returned and no goroutine is started.
//
// From the first Start until ctx is done, the instance is reported by fd2_secrets_vault_up and
// fd2_secrets_vault_token_ttl_seconds (metrics.Vaults), a failed Start included: a Vault that is down
// when the gateway starts shows as down, not as absent.
func (v *Vault) Start(ctx context.Context) error {
	v.mu.Lock()
	track := !v.tracked
	v.tracked = true
	v.mu.Unlock()
	if track {
		metrics.Vaults.Track(v, v.cfg.Name, v.metricState)
		context.AfterFunc(ctx, func() { metrics.Vaults.Untrack(v) })
	}
	if err := v.login(ctx); err != nil {
		return err
	}
	background.Go(v.log, "vault_loop", func() { v.loop(ctx) })
	return nil
}

// Read returns key of the secret at path in the instance's KV mount. A path that starts with the mount
// name ("secret/groq" for mount "secret") is taken relative to the mount, as Control Tower references
// write it. key "" selects the secret's only key (ErrInvalidRef when it has several); version 0 is the
// latest (KV v2 only).
func (v *Vault) Read(ctx context.Context, path, key string, version int) (Value, error) {
	return v.ReadMount(ctx, "", path, key, version)
}

// ReadMount is Read from an explicit KV mount ("" means KVMount), for vault://<mount>/<path> references.
// The mount must have the instance's KV version.
func (v *Vault) ReadMount(ctx context.Context, mount, path, key string, version int) (Value, error) {
	if mount = strings.Trim(mount, "/"); mount == "" {
		mount = v.cfg.KVMount
	}
	path = strings.Trim(path, "/")
	path = strings.TrimPrefix(path, mount+"/")
	if path == "" {
		return Value{}, fmt.Errorf("%w: vault %q: empty path", ErrInvalidRef, v.cfg.Name)
	}
	if version > 0 && v.cfg.KVVersion == 1 {
		return Value{}, fmt.Errorf("%w: vault %q: %s/%s@%d: versions need KV v2", ErrInvalidRef, v.cfg.Name, mount, path, version)
	}
	ck := cacheKey{mount: mount, path: path, key: key, version: version}
	now := v.cfg.Now()
	v.mu.Lock()
	e := v.cache[ck]
	v.mu.Unlock()
	if e != nil && now.Before(e.expires) {
		return e.val, nil
	}
	// Concurrent misses for one secret make a single Vault call.
	res, err, _ := v.sf.Do(ck.String(), func() (any, error) {
		return v.fetchAndStore(ctx, ck)
	})
	if err == nil {
		return res.(Value), nil
	}
	if !errors.Is(err, ErrUnavailable) {
		return Value{}, err
	}
	if e != nil && now.Before(e.expires.Add(v.cfg.Grace)) {
		v.log.Warn("vault unavailable, serving cached secret within grace",
			zap.String("secret", ck.String()), zap.Time("expired_at", e.expires), zap.Error(err))
		return e.val, nil
	}
	return Value{}, err
}

// fetchAndStore reads ck from Vault and updates the cache: a value replaces the entry, a definitive
// "not found" or "invalid" evicts it, and an unavailable error leaves it for Grace to decide.
func (v *Vault) fetchAndStore(ctx context.Context, ck cacheKey) (Value, error) {
	val, ttl, err := v.fetch(ctx, ck)
	now := v.cfg.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case err == nil:
		v.cache[ck] = &cacheEntry{val: val, expires: now.Add(ttl), refreshAt: now.Add(ttl * 2 / 3), ttl: ttl}
		v.setHealth(nil, false)
		v.poke()
	case errors.Is(err, ErrUnavailable):
		v.setHealth(err, false)
	default:
		delete(v.cache, ck)
		// Vault answered, so it is healthy even though the secret is gone.
		v.setHealth(nil, false)
	}
	return val, err
}

// fetch performs the read, logging in again once (AppRole) when Vault rejects the token.
func (v *Vault) fetch(ctx context.Context, ck cacheKey) (Value, time.Duration, error) {
	if v.approle() {
		v.mu.Lock()
		in := v.loggedIn
		v.mu.Unlock()
		if !in {
			if err := v.login(ctx); err != nil {
				return Value{}, 0, err
			}
		}
	}
	sec, err := v.readSecret(ctx, ck)
	if err != nil && v.approle() && isForbidden(err) {
		v.log.Info("vault rejected the token, logging in again", zap.String("secret", ck.String()))
		if lerr := v.login(ctx); lerr != nil {
			return Value{}, 0, lerr
		}
		sec, err = v.readSecret(ctx, ck)
	}
	if err != nil {
		return Value{}, 0, v.classify(ck, err)
	}
	data, err := v.secretData(ck, sec)
	if err != nil {
		return Value{}, 0, err
	}
	val, err := pickKey(v.cfg.Name, ck, data)
	if err != nil {
		return Value{}, 0, err
	}
	ttl := v.cfg.CacheTTL
	if sec.LeaseDuration > 0 {
		ttl = time.Duration(sec.LeaseDuration) * time.Second
	}
	return val, ttl, nil
}

func (v *Vault) readSecret(ctx context.Context, ck cacheKey) (sec *api.Secret, err error) {
	start := time.Now()
	defer func() { v.observe(opRead, time.Since(start), err) }()
	if v.cfg.KVVersion == 1 {
		return v.client.Logical().ReadWithContext(ctx, ck.mount+"/"+ck.path)
	}
	var q map[string][]string
	if ck.version > 0 {
		q = map[string][]string{"version": {strconv.Itoa(ck.version)}}
	}
	return v.client.Logical().ReadWithDataWithContext(ctx, ck.mount+"/data/"+ck.path, q)
}

// observe counts one Vault request and its duration.
func (v *Vault) observe(op vaultOp, d time.Duration, err error) {
	m := &v.ops[op]
	if err != nil {
		m.failed.Inc()
	} else {
		m.ok.Inc()
	}
	m.duration.Observe(d.Seconds())
}

// secretData extracts the key/value map; a nil secret (404) or a deleted KV v2 version (404 with
// "data": null and a deletion_time) is ErrNotFound.
func (v *Vault) secretData(ck cacheKey, sec *api.Secret) (map[string]any, error) {
	notFound := fmt.Errorf("vault %q: secret %s/%s: %w", v.cfg.Name, ck.mount, ck.path, ErrNotFound)
	if sec == nil || sec.Data == nil {
		return nil, notFound
	}
	if v.cfg.KVVersion == 1 {
		return sec.Data, nil
	}
	data, _ := sec.Data["data"].(map[string]any)
	if data == nil {
		return nil, notFound
	}
	return data, nil
}

func pickKey(name string, ck cacheKey, data map[string]any) (Value, error) {
	key := ck.key
	if key == "" {
		// KV v1 stores a lease "ttl" next to the data; it is not a candidate for the default key.
		keys := make([]string, 0, len(data))
		for k := range data {
			if k != "ttl" || len(data) == 1 {
				keys = append(keys, k)
			}
		}
		if len(keys) != 1 {
			sort.Strings(keys)
			return Value{}, fmt.Errorf("%w: vault %q: secret %s/%s has keys %v: name one with #key", ErrInvalidRef, name, ck.mount, ck.path, keys)
		}
		key = keys[0]
	}
	raw, ok := data[key]
	if !ok {
		return Value{}, fmt.Errorf("vault %q: secret %s/%s key %q: %w", name, ck.mount, ck.path, key, ErrNotFound)
	}
	s, err := stringify(raw)
	if err != nil {
		return Value{}, fmt.Errorf("vault %q: secret %s/%s key %q: %w", name, ck.mount, ck.path, key, err)
	}
	return Value{s: s}, nil
}

// classify maps a Vault client error onto the sentinels. The api package's errors carry the URL and
// Vault's error strings, never request bodies or tokens, so they may be wrapped.
func (v *Vault) classify(ck cacheKey, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("vault %q: secret %s/%s: %w", v.cfg.Name, ck.mount, ck.path, ErrNotFound)
		case http.StatusBadRequest:
			return fmt.Errorf("%w: vault %q: reading %s/%s: HTTP 400: %s", ErrInvalidRef, v.cfg.Name, ck.mount, ck.path, strings.Join(re.Errors, "; "))
		}
		return fmt.Errorf("vault %q: reading %s/%s: HTTP %d: %s: %w", v.cfg.Name, ck.mount, ck.path, re.StatusCode, strings.Join(re.Errors, "; "), ErrUnavailable)
	}
	return fmt.Errorf("vault %q: reading %s/%s: %w: %w", v.cfg.Name, ck.mount, ck.path, ErrUnavailable, err)
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// login obtains (AppRole) or inspects (token) the token and schedules its renewal.
func (v *Vault) login(ctx context.Context) error {
	v.loginMu.Lock()
	defer v.loginMu.Unlock()
	var ttl time.Duration
	var renewable bool
	if v.approle() {
		// Write through a token-less clone: a stale token on the login request is pointless, and Vault
		// rejects some requests when an invalid token is attached.
		c, err := v.client.Clone()
		if err != nil {
			return v.loginFailed(fmt.Errorf("vault %q: cloning client: %w", v.cfg.Name, err))
		}
		c.ClearToken()
		start := time.Now()
		sec, err := c.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{
			"role_id":   v.cfg.RoleID,
			"secret_id": v.cfg.SecretID,
		})
		v.observe(opLogin, time.Since(start), err)
		if err != nil {
			return v.loginFailed(fmt.Errorf("vault %q: approle login: %w: %w", v.cfg.Name, ErrUnavailable, err))
		}
		if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
			return v.loginFailed(fmt.Errorf("vault %q: approle login returned no token: %w", v.cfg.Name, ErrUnavailable))
		}
		v.client.SetToken(sec.Auth.ClientToken)
		ttl = time.Duration(sec.Auth.LeaseDuration) * time.Second
		renewable = sec.Auth.Renewable
	} else {
		start := time.Now()
		sec, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
		v.observe(opLogin, time.Since(start), err)
		if err != nil {
			return v.loginFailed(fmt.Errorf("vault %q: token lookup-self: %w: %w", v.cfg.Name, ErrUnavailable, err))
		}
		if ttl, err = sec.TokenTTL(); err != nil {
			return v.loginFailed(fmt.Errorf("vault %q: token lookup-self: %w: %w", v.cfg.Name, ErrUnavailable, err))
		}
		renewable, _ = sec.TokenIsRenewable()
	}
	v.mu.Lock()
	v.loggedIn, v.loginFails = true, 0
	v.setHealth(nil, false)
	v.setTokenLifetime(ttl, renewable)
	v.poke()
	v.mu.Unlock()
	v.log.Info("vault authenticated", zap.Bool("approle", v.approle()), zap.Duration("token_ttl", ttl), zap.Bool("renewable", renewable))
	return nil
}

func (v *Vault) loginFailed(err error) error {
	v.mu.Lock()
	v.setHealth(err, false)
	v.loginFails++
	v.mu.Unlock()
	return err
}

// setTokenLifetime records a fresh TTL; callers hold v.mu. A non-renewable AppRole token is replaced by a
// new login at the same two-thirds point; a non-renewable static token is left to expire.
func (v *Vault) setTokenLifetime(ttl time.Duration, renewable bool) {
	now := v.cfg.Now()
	v.renewable = renewable
	if ttl <= 0 {
		v.tokenExpiry, v.renewAt = time.Time{}, time.Time{}
		return
	}
	v.tokenExpiry = now.Add(ttl)
	if renewable || v.approle() {
		v.renewAt = now.Add(ttl * 2 / 3)
	} else {
		v.renewAt = time.Time{}
	}
}

// renewToken runs when renewAt is due.
func (v *Vault) renewToken(ctx context.Context) {
	v.mu.Lock()
	renewable, expiry := v.renewable, v.tokenExpiry
	v.mu.Unlock()
	if renewable {
		start := time.Now()
		sec, err := v.client.Auth().Token().RenewSelfWithContext(ctx, 0)
		v.observe(opRenew, time.Since(start), err)
		if err == nil && sec != nil && sec.Auth != nil {
			ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
			// Near the max TTL Vault grants less than asked; when what is left is too short to be worth
			// another renewal, an AppRole instance logs in afresh instead.
			if !v.approle() || ttl >= 2*time.Second {
				v.mu.Lock()
				v.setTokenLifetime(ttl, sec.Auth.Renewable)
				v.setHealth(nil, false)
				v.mu.Unlock()
				v.log.Debug("vault token renewed", zap.Duration("token_ttl", ttl))
				return
			}
		} else if err != nil {
			v.log.Warn("vault token renewal failed", zap.Error(err))
		}
	}
	if v.approle() {
		if err := v.login(ctx); err != nil {
			v.mu.Lock()
			// Back off 1 s, 2 s, 4 s … 30 s between failed logins.
			d := min(time.Second<<min(v.loginFails-1, 5), 30*time.Second)
			v.renewAt = v.cfg.Now().Add(d)
			v.mu.Unlock()
			v.log.Warn("vault login failed", zap.Error(err), zap.Duration("retry_in", d))
		}
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	v.setHealth(fmt.Errorf("vault %q: token renewal failed", v.cfg.Name), false)
	if !expiry.IsZero() && now.Before(expiry) {
		v.renewAt = now.Add(max(expiry.Sub(now)/3, 200*time.Millisecond)) // retry while it lives
	} else {
		v.renewAt = time.Time{} // a static token cannot come back
	}
}

// poke wakes the background loop to recompute its next deadline; it never blocks.
func (v *Vault) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

func (v *Vault) loop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var probe <-chan time.Time
	if iv := v.cfg.ProbeInterval; iv >= 0 {
		if iv == 0 {
			iv = 30 * time.Second
		}
		tk := time.NewTicker(iv)
		defer tk.Stop()
		probe = tk.C
	}
	for {
		t.Reset(v.nextWait())
		select {
		case <-ctx.Done():
			return
		case <-probe:
			v.guard("vault_probe", func() { _, _ = v.Probe(ctx) }) // recorded in Status and the metrics
			continue
		case <-v.wake:
		case <-t.C:
		}
		v.guard("vault_renew", func() { v.maintain(ctx) })
	}
}

// guard runs one round of the loop's work; a panic in it skips that round (logged and counted) instead of
// ending the renewals and probes for good, or the process.
func (v *Vault) guard(task string, fn func()) {
	defer background.Recover(v.log, task)
	fn()
}

// nextWait is the time to the earliest renewal or refresh, clamped so that a jumping (test) clock or a
// burst of due entries cannot make the loop spin, and so that it rechecks at least once a minute.
func (v *Vault) nextWait() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	next := now.Add(time.Minute)
	if !v.renewAt.IsZero() && v.renewAt.Before(next) {
		next = v.renewAt
	}
	for _, e := range v.cache {
		if e.refreshAt.Before(next) {
			next = e.refreshAt
		}
	}
	return max(next.Sub(now), 100*time.Millisecond)
}

func (v *Vault) maintain(ctx context.Context) {
	now := v.cfg.Now()
	v.mu.Lock()
	renewDue := !v.renewAt.IsZero() && !now.Before(v.renewAt)
	var due []cacheKey
	for k, e := range v.cache {
		if !now.Before(e.refreshAt) {
			due = append(due, k)
		}
	}
	v.mu.Unlock()
	if renewDue {
		v.renewToken(ctx)
	}
	for _, k := range due {
		if ctx.Err() != nil {
			return
		}
		v.refreshOne(ctx, k)
	}
}

// refreshOne re-reads one cached secret. On an unavailable error the entry stays (Read applies Grace)
// and is retried at a third of its lifetime, between 200 ms and 30 s.
func (v *Vault) refreshOne(ctx context.Context, k cacheKey) error {
	_, err, _ := v.sf.Do(k.String(), func() (any, error) {
		return v.fetchAndStore(ctx, k)
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		v.mu.Lock()
		if e := v.cache[k]; e != nil {
			e.refreshAt = v.cfg.Now().Add(min(max(e.ttl/3, 200*time.Millisecond), 30*time.Second))
		}
		v.mu.Unlock()
		v.log.Warn("vault secret refresh failed, keeping cached value", zap.String("secret", k.String()), zap.Error(err))
	default:
		v.log.Warn("vault secret gone, evicted from cache", zap.String("secret", k.String()), zap.Error(err))
	}
	return err
}

// Refresh re-reads every cached secret now (the admin "rotate" endpoint). Secrets that Vault no longer
// has are evicted; the returned error joins every failure, each naming its secret.
func (v *Vault) Refresh(ctx context.Context) error {
	v.mu.Lock()
	keys := make([]cacheKey, 0, len(v.cache))
	for k := range v.cache {
		keys = append(keys, k)
	}
	v.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	var errs []error
	for _, k := range keys {
		if err := v.refreshOne(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Status reports the instance's health. It is cheap: no I/O.
func (v *Vault) Status() VaultStatus {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := VaultStatus{Name: v.cfg.Name, Healthy: v.healthy, Authenticated: v.loggedIn, LastError: v.lastErr,
		LastErrorAt: v.lastErrAt, TokenExpiry: v.tokenExpiry, Cached: len(v.cache)}
	if !v.tokenExpiry.IsZero() {
		st.TokenTTL = max(v.tokenExpiry.Sub(v.cfg.Now()), 0)
	}
	return st
}

// metricState is the instance's state for metrics.Vaults, read at scrape time.
func (v *Vault) metricState() metrics.VaultState {
	st := v.Status()
	return metrics.VaultState{Up: st.Healthy, TokenTTL: st.TokenTTL, Expires: !st.TokenExpiry.IsZero()}
}

// setHealth records the outcome of a Vault call; callers hold v.mu. A failure always counts. A success
// clears any failure, except that a successful probe clears only a probe's failure: Vault answering
// sys/health says nothing about a revoked token or a failed read. (A first call that is a successful
// probe makes the instance healthy: nothing has failed.)
func (v *Vault) setHealth(err error, probe bool) {
	switch {
	case err != nil:
		v.healthy, v.lastErr, v.lastErrAt, v.probeFailed = false, err.Error(), v.cfg.Now(), probe
	case !probe || v.probeFailed || v.lastErrAt.IsZero():
		v.healthy, v.lastErr, v.probeFailed = true, "", false
	}
}

// ProbeTimeout bounds Probe, whatever the caller's context allows.
const ProbeTimeout = time.Second

// Probe is a cheap live check of the instance: an unauthenticated GET sys/health, without retries and
// within ProbeTimeout. It returns the round-trip time and an error (wrapping ErrUnavailable) when Vault
// cannot be reached in time, answers with an error, or is sealed or not initialised; a standby answers
// normally. The outcome is recorded in Status and in fd2_secrets_vault_up like any other call (see
// VaultStatus.Healthy). Probe sends no token and does not need Start.
func (v *Vault) Probe(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	start := time.Now()
	h, err := v.probe.Sys().HealthWithContext(ctx)
	d := time.Since(start)
	switch {
	case err != nil:
		err = fmt.Errorf("vault %q: health probe: %w: %w", v.cfg.Name, ErrUnavailable, err)
	case !h.Initialized:
		err = fmt.Errorf("vault %q: health probe: not initialized: %w", v.cfg.Name, ErrUnavailable)
	case h.Sealed:
		err = fmt.Errorf("vault %q: health probe: sealed: %w", v.cfg.Name, ErrUnavailable)
	}
	v.observe(opProbe, d, err)
	v.mu.Lock()
	v.setHealth(err, true)
	v.mu.Unlock()
	return d, err
}
