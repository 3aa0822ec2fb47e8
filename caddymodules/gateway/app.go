// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/reqbody"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is the `dsp` app: the state that outlives a request. It owns the manifest resolver (source, memory
// and Redis tiers, last-good store, single-flight, background revalidation, pub/sub invalidation) and the
// project pool (compiled projects with their provisioned upstream proxies).
//
// The resolver survives config reloads: it is shared through a usage pool keyed by the source and cache
// settings, so a `caddy reload` keeps warm caches (and keeps serving last-good copies when the source is
// down at reload time). The project pool is rebuilt per config, because its proxies are provisioned in the
// config's context.
type App struct {
	// Environment overrides the environment manifests are resolved for (file sources only; the Control
	// Tower always resolves for the manifest's own "environment"). Default: each manifest's own.
	Environment string `json:"environment,omitempty"`

	// Manifests selects the manifest source. Default: the embedded example manifests (see package
	// examples), so that FD2 runs with no configuration at all.
	Manifests *ManifestSource `json:"manifests,omitempty"`

	// Cache configures the cache tiers in front of the source.
	Cache *CacheConfig `json:"cache,omitempty"`

	// LastGood is a directory where every manifest successfully fetched is stored; when the source is down
	// and memory holds no copy (after a restart), the copy on disk is served. Default: none.
	LastGood string `json:"last_good,omitempty"`

	// MaxStale bounds how old (since it was fetched) a last-good copy may be and still be served while the
	// source is down. Default 0: no bound.
	MaxStale caddy.Duration `json:"max_stale,omitempty"`

	// Vaults declares Vault instances by name (`vault:<name>:<path>#key` references). Manifests with a
	// vault module may declare more (file sources).
	Vaults map[string]*VaultConfig `json:"vaults,omitempty"`

	// SecretsConfig is the secrets config JSON file `config:a.b.c` references read (the Control Tower's
	// secrets_config.json). Default: the file a manifest's vault module names, relative to the manifests.
	SecretsConfig string `json:"secrets_config,omitempty"`

	// EncryptionKey decrypts `encrypted:` references: a Fernet key, or a passphrase derived as the Control
	// Tower derives it. Supports {env.*}. Default: for a manifest's references, what its vault module's
	// encryption_key_source names (the Control Tower's default: env:ENCRYPTION_KEY); set, it overrides
	// every manifest's source.
	EncryptionKey string `json:"encryption_key,omitempty"`

	// MaxManifestSize caps a manifest document from any source, in bytes. A larger one is refused as
	// manifest_too_large (logged, shown by GET /dsp/projects; the project answers 503 manifest_invalid, or
	// keeps serving its previous version). Default 4 MiB (about 16 000 routes).
	MaxManifestSize int64 `json:"max_manifest_size,omitempty"`

	// CacheKey is the key that encrypts (AES-256-GCM) manifests that arrive with their secrets resolved —
	// everything a Control Tower serves — before they reach the Redis cache or the last-good directory: 32
	// bytes, base64 or hex (`openssl rand -base64 32`). Supports {env.*}. Without it such manifests are kept
	// in memory only (logged once). A file source's manifests are stored before resolution and need no key.
	CacheKey string `json:"cache_key,omitempty"`

	// PoolSize is how many compiled projects (with their upstream proxies) the project pool keeps. The
	// least recently used is evicted beyond it, after its in-flight requests finish. Default 100.
	PoolSize int `json:"pool_size,omitempty"`

	// MaxBodySize caps every request body a stage reads whole (the rate limiter's token estimate, prompt
	// templates, the inference module), in bytes: the body is read once, under this cap, and shared. It is
	// also the default max_body_size of dsp_dispatch and dsp_openai, which may set a lower one for their
	// site. Default 10 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`

	// RequireExp makes dsp_auth refuse, on manifest routes, tokens without an exp claim (jwt-auth tokens and
	// the JWT inside a jwe-decrypt token). Default false, as APISIX's jwt-auth: it checks exp only when a
	// token carries one (apisix/plugins/jwt-auth/parser.lua, verify_claims). Static `dsp_auth jwt`
	// policies have their own require_exp, on by default.
	RequireExp bool `json:"require_exp,omitempty"`

	resolver *source.Resolver
	shared   *sharedResolver
	poolKey  string
	pool     *Pool
	ctx      caddy.Context
	logger   *zap.Logger
	srcName  string
}

// ManifestSource selects where manifests come from. Exactly one of File and ControlTower may be set.
type ManifestSource struct {
	// File is a directory of <project>.json manifest files (the Control Tower's format); FD2 resolves their
	// ${…} references itself, as the Control Tower does for resolve_env=true.
	File string `json:"file,omitempty"`
	// ControlTower fetches manifests from a DSP Control Tower.
	ControlTower *ControlTower `json:"control_tower,omitempty"`
	// Refresh revalidates every cached project against the source this often (with nothing cached, it probes
	// a failed source). Default: 30s for the Control Tower, off for files (their TTL still applies).
	Refresh caddy.Duration `json:"refresh,omitempty"`
}

// ControlTower configures the Control Tower client.
type ControlTower struct {
	// URL is the Control Tower base URL, e.g. http://127.0.0.1:8000.
	URL string `json:"url"`
	// Secret is sent as X-DSPAI-Client-Secret (the Control Tower does not require it on manifest reads; it is
	// sent when configured, as the original front door does). Supports {env.*} placeholders.
	Secret string `json:"secret,omitempty"`
	// Timeout per attempt. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Retries after a connection error or 5xx, with exponential backoff and jitter. Default 2.
	Retries *int `json:"retries,omitempty"`
}

// CacheConfig configures the cache tiers.
type CacheConfig struct {
	// Memory is the in-process tier (always on).
	Memory *MemoryCache `json:"memory,omitempty"`
	// Redis is the optional shared tier, also used to tell every instance to drop a changed project.
	Redis *RedisCache `json:"redis,omitempty"`
}

// MemoryCache configures the in-process tier.
type MemoryCache struct {
	// TTL after which a cached manifest is revalidated in the background (it keeps being served meanwhile).
	// Default 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// MaxProjects bounds the tier (LRU). Default 1000.
	MaxProjects int `json:"max_projects,omitempty"`
}

// RedisCache configures the shared tier.
type RedisCache struct {
	// URL is a redis:// or rediss:// URL. Supports {env.*} placeholders.
	URL string `json:"url"`
	// TTL of cached manifests in Redis. Default 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Prefix of every key and channel. Default "fd2:".
	Prefix string `json:"prefix,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "dsp", New: func() caddy.Module { return new(App) }}
}

// Provision sets up the resolver and the pool.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	if a.PoolSize <= 0 {
		a.PoolSize = 100
	}
	if a.MaxBodySize <= 0 {
		a.MaxBodySize = reqbody.DefaultLimit
	}
	if err := metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	// Libraries without a logger of their own (JWKS, key revocations) report recovered panics here.
	background.SetLogger(caddy.Log().Named("dsp.background"))
	repl := caddy.NewReplacer()
	key, err := json.Marshal(struct {
		E  string
		M  *ManifestSource
		C  *CacheConfig
		L  string
		S  caddy.Duration
		V  map[string]*VaultConfig
		SC string
		EK string
		MM int64
		CK string
	}{a.Environment, a.Manifests, a.Cache, a.LastGood, a.MaxStale, a.Vaults, a.SecretsConfig, a.EncryptionKey,
		a.MaxManifestSize, a.CacheKey})
	if err != nil {
		return fmt.Errorf("keying resolver: %w", err)
	}
	a.poolKey = "dsp.resolver:" + string(key)
	val, _, err := resolvers.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return a.newResolver(repl)
	})
	if err != nil {
		return err
	}
	a.shared = val.(*sharedResolver)
	a.resolver = a.shared.resolver
	a.srcName = a.shared.source
	a.pool = NewPool(ctx, a.PoolSize, a.logger.Named("pool"))
	// The registry is this config's own, so the collector goes with the config on reload.
	if err := ctx.GetMetricsRegistry().Register(metrics.AgeCollector{Ages: a.manifestAges}); err != nil {
		return fmt.Errorf("registering manifest age collector: %w", err)
	}
	return nil
}

var resolvers = caddy.NewUsagePool()

// sharedResolver is a resolver shared by every config with the same settings.
type sharedResolver struct {
	resolver *source.Resolver
	secrets  *secretStore
	redis    *redis.Client
	redisURL string
	source   string
	cancel   context.CancelFunc
}

// Destruct stops the resolver's background work and closes its Redis client.
func (s *sharedResolver) Destruct() error {
	s.cancel()
	if s.redis != nil {
		return s.redis.Close()
	}
	return nil
}

func (a *App) newResolver(repl *caddy.Replacer) (*sharedResolver, error) {
	cfg := source.Config{
		Compile: func(id string, raw []byte) (any, error) {
			start := time.Now()
			p, err := CompileProject(id, raw)
			metrics.ModuleLoad.WithLabelValues("manifest").Observe(time.Since(start).Seconds())
			if err == nil && len(p.Warnings) > 0 {
				// Said once per version, when it compiles: a route that will answer 503 or 501 is known
				// before any request reaches it (the admin API lists the same warnings).
				a.logger.Warn("manifest version compiled with warnings", zap.String("project", id),
					zap.String("manifest_hash", p.Hash), zap.Strings("warnings", p.Warnings))
			}
			return p, err
		},
		Logger:   a.logger.Named("resolver"),
		Observer: observer{},
		MaxStale: time.Duration(a.MaxStale),
	}
	env := manifest.EnvOptions{Environment: a.Environment}
	name := "file"
	if a.CacheKey != "" {
		key, err := parseCacheKey(repl.ReplaceAll(a.CacheKey, ""))
		if err != nil {
			return nil, err
		}
		cfg.CacheKey = key
	}
	// The resolver outlives any one config (it is shared across reloads through the usage pool), so its
	// background work — and the Vault clients' token renewal — runs on its own context, cancelled by
	// Destruct when the last config using it goes.
	bg, cancel := context.WithCancel(context.Background())
	store, err := a.newSecretStore(bg, repl)
	if err != nil {
		cancel()
		return nil, err
	}
	switch ms := a.Manifests; {
	case ms == nil || (ms.File == "" && ms.ControlTower == nil):
		cfg.Source = defaultSource(env, a.MaxManifestSize)
	case ms.File != "" && ms.ControlTower != nil:
		cancel()
		return nil, errors.New("manifests: choose one of file and control_tower")
	case ms.File != "":
		dir := ms.File
		cfg.Source = &source.FileSource{Dir: dir, Env: env, MaxSize: a.MaxManifestSize,
			Secrets: func(ctx context.Context, id string, raw []byte) (func(string) (string, error), func() error) {
				return store.forManifest(ctx, dir, raw)
			}}
		cfg.Refresh = time.Duration(ms.Refresh)
	default:
		ct := ms.ControlTower
		if ct.URL == "" {
			cancel()
			return nil, errors.New("manifests control_tower: url is required")
		}
		c := &source.ControlTower{BaseURL: repl.ReplaceAll(ct.URL, ""), Secret: repl.ReplaceAll(ct.Secret, ""),
			Timeout: time.Duration(ct.Timeout), MaxSize: a.MaxManifestSize}
		if ct.Retries != nil {
			c.Retries = *ct.Retries
			if c.Retries == 0 {
				c.Retries = -1 // explicit "retries 0": one attempt only
			}
		}
		cfg.Source = c
		cfg.Refresh = time.Duration(ms.Refresh)
		if cfg.Refresh == 0 {
			cfg.Refresh = 30 * time.Second
		}
		name = "control_tower"
	}
	if a.Cache != nil && a.Cache.Memory != nil {
		cfg.TTL = time.Duration(a.Cache.Memory.TTL)
		cfg.MaxProjects = a.Cache.Memory.MaxProjects
	}
	var rc *redis.Client
	if a.Cache != nil && a.Cache.Redis != nil {
		opts, err := redis.ParseURL(repl.ReplaceAll(a.Cache.Redis.URL, ""))
		if err != nil {
			cancel()
			return nil, fmt.Errorf("parsing cache redis url: %w", err)
		}
		rc = redis.NewClient(opts)
		cfg.Redis = &source.RedisTier{Client: rc, Prefix: a.Cache.Redis.Prefix, TTL: time.Duration(a.Cache.Redis.TTL)}
	}
	if a.LastGood != "" {
		cfg.LastGood = &source.LastGood{Dir: a.LastGood}
	}
	res, err := source.New(cfg)
	if err != nil {
		cancel()
		if rc != nil {
			_ = rc.Close()
		}
		return nil, fmt.Errorf("creating manifest resolver: %w", err)
	}
	res.Start(bg)
	sr := &sharedResolver{resolver: res, redis: rc, source: name, cancel: cancel, secrets: store}
	if a.Cache != nil && a.Cache.Redis != nil {
		sr.redisURL = repl.ReplaceAll(a.Cache.Redis.URL, "")
	}
	return sr, nil
}

// parseCacheKey decodes cache_key: 32 bytes in base64 (standard or URL alphabet, padded or not) or hex. A
// passphrase is refused rather than stretched: the key guards secrets at rest and must be random.
func parseCacheKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("cache_key is set but empty (an unset environment variable?)")
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("cache_key must be 32 random bytes in base64 or hex (e.g. `openssl rand -base64 32`)")
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if a.Manifests != nil && a.Manifests.File != "" && a.Manifests.ControlTower != nil {
		return errors.New("manifests: choose one of file and control_tower")
	}
	if a.MaxManifestSize < 0 {
		return errors.New("max_manifest_size must not be negative")
	}
	return nil
}

// Start implements caddy.App.
func (a *App) Start() error { return nil }

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases the pool and this config's hold on the shared resolver.
func (a *App) Cleanup() error {
	if a.pool != nil {
		a.pool.Close()
	}
	if a.poolKey != "" && a.shared != nil {
		_, err := resolvers.Delete(a.poolKey)
		return err
	}
	return nil
}

// Resolver returns the manifest resolver.
func (a *App) Resolver() *source.Resolver { return a.resolver }

// Pool returns the project pool.
func (a *App) Pool() *Pool { return a.pool }

// SourceName is "file" or "control_tower".
func (a *App) SourceName() string { return a.srcName }

// BodyLimit is the pipeline's cap on request bodies read whole (MaxBodySize).
func (a *App) BodyLimit() int64 { return a.MaxBodySize }

// RedisClient returns the shared Redis client, or nil when no Redis tier is configured. Later stages
// (rate limits) reuse it.
func (a *App) RedisClient() *redis.Client { return a.shared.redis }

// RedisOptions returns fresh options for the dsp app's Redis (nil when none is configured), for a stage
// that needs its own client with other timeouts (the rate limiter must notice an outage in milliseconds).
func (a *App) RedisOptions() *redis.Options {
	if a.shared.redisURL == "" {
		return nil
	}
	opts, err := redis.ParseURL(a.shared.redisURL)
	if err != nil {
		return nil // validated when the client was made
	}
	return opts
}

// observer feeds resolver events into the metrics.
type observer struct{}

// memoryHit is the counter of the warm path, bound once: it is bumped on nearly every request.
var memoryHit = metrics.ManifestCache.WithLabelValues("memory", "hit")

func (observer) CacheResult(tier, result string) {
	if tier == "memory" && result == "hit" {
		memoryHit.Inc()
		return
	}
	metrics.ManifestCache.WithLabelValues(tier, result).Inc()
}

func (observer) Loaded(id string, d time.Duration, err error) {}

// Age is reported at scrape time instead (manifestAges), so that a stale copy's age keeps growing.
func (observer) Age(string, time.Duration) {}

func (a *App) manifestAges() map[string]float64 {
	entries := a.resolver.Snapshot()
	out := make(map[string]float64, len(entries))
	now := time.Now()
	for _, e := range entries {
		out[e.ID] = now.Sub(e.FetchedAt).Seconds()
	}
	return out
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)

// Current returns the dsp app of the running config.
func Current() (*App, error) {
	app, err := caddy.ActiveContext().AppIfConfigured("dsp")
	if err != nil || app == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the dsp app is not running")}
	}
	return app.(*App), nil
}

// RotateSecrets re-reads every cached secret from its Vault.
func (a *App) RotateSecrets(ctx context.Context) error { return a.shared.secrets.Rotate(ctx) }
