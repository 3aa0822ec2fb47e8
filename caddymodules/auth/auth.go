// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package auth is the `dsp_auth` handler: it authenticates requests the way the matched route's manifest
// says (APISIX jwt-auth, jwe-decrypt and key-auth with the project's consumers), or, for routes without
// manifest auth plugins, with a static policy from the Caddyfile (FD2 API keys, JWT with a secret, PEM
// keys or a JWKS URL). It also provides the `fd2 keys` command that manages API keys.
package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plan"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_auth", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// Handler is the `dsp_auth` handler.
//
// Manifest routes: when the route dsp_manifest matched carries jwt-auth, jwe-decrypt or key-auth, the
// request must pass every one of them (jwe-decrypt first, then jwt-auth, then key-auth, as in APISIX), with
// credentials of *this project's* consumers only:
//   - jwt-auth: token from the Authorization header (Bearer), the plugin's header, the `jwt` query
//     parameter or the `jwt` cookie; the `key` claim picks the consumer; its secret (HS256, the DSP JWT
//     service's) or public key verifies; exp/nbf/iat with Leeway.
//   - jwe-decrypt: compact JWE, alg dir; the `kid` header picks the consumer; the key is derived from its
//     secret as the JWT service derives it; the plaintext {"jwt": "<JWS>"} is verified as a JWS (with the
//     jwt-auth consumer of its key, else JWTServiceSecret, else the project's single jwt-auth secret) and
//     forwarded as "Bearer <JWS>" in forward_header.
//   - key-auth: the `apikey` header (or the plugin's header / query parameter) matches a consumer's key.
//
// Other routes: when a static policy is configured (APIKeys and/or JWT), a credential is required unless
// Optional is set. Routes with neither pass through untouched.
//
// Failures: 401 with WWW-Authenticate for a missing or bad credential; 403 when a valid credential is scoped
// to another project or module. Tokens and keys are never logged; the consumer id is.
//
// Placeholders: {dsp.consumer}, {dsp.subject}, {dsp.claim.<name>} (set through dsp_manifest's request state).
type Handler struct {
	// Name labels a static site's requests in FD2's metrics and access log (their project label), when this
	// is the site's first FD2 stage. Default "static".
	Name string `json:"name,omitempty"`
	// APIKeys enables FD2 API keys (static policy): `file` (a JSON/YAML key file) or `redis` (the dsp app's
	// Redis, or RedisURL). Keys are accepted as Authorization: Bearer, X-API-Key or api-key.
	APIKeys *APIKeysConfig `json:"api_keys,omitempty"`

	// JWT enables bearer JWTs (static policy).
	JWT *JWTConfig `json:"jwt,omitempty"`

	// JWTServiceSecret is the DSP JWT service's signing secret, used to verify the JWS inside jwe-decrypt
	// tokens when the project has no matching jwt-auth consumer. Supports {env.*}.
	JWTServiceSecret string `json:"jwt_service_secret,omitempty"`

	// Optional lets requests without any credential through a static policy unauthenticated (a present but
	// bad credential is still refused). Manifest auth plugins are never optional.
	Optional bool `json:"optional,omitempty"`

	// Leeway for exp/nbf/iat, on manifest routes and static policies. Default 0 (as the DSP services). A
	// reload with another leeway applies at once, also to projects already loaded.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// CacheSize bounds each verified-token cache. Default 10000.
	CacheSize int `json:"cache_size,omitempty"`

	app    *gateway.App
	logger *zap.Logger
	static *auth.StaticPolicy // nil: no static policy
	cancel context.CancelFunc
	// opts is how this handler verifies manifest routes' tokens. A compiled project outlives a config
	// reload, and its consumers keep one verifier set and token cache per option set (auth.Consumers), so
	// a reload with another leeway applies at once and a token admitted under laxer options is never a
	// cache hit for a stricter handler.
	opts auth.VerifyOptions
}

// APIKeysConfig selects the API key store.
type APIKeysConfig struct {
	// File is a key file managed with `fd2 keys … --file`.
	File string `json:"file,omitempty"`
	// Redis stores keys in Redis: the dsp app's Redis (cache redis) unless RedisURL is set.
	Redis bool `json:"redis,omitempty"`
	// RedisURL overrides the Redis to use. Supports {env.*}.
	RedisURL string `json:"redis_url,omitempty"`
	// Prefix of Redis keys. Default "fd2:".
	Prefix string `json:"prefix,omitempty"`
}

// JWTConfig is the static JWT policy.
type JWTConfig struct {
	// Secret for HS256/384/512. Supports {env.*} and {file.*}.
	Secret string `json:"secret,omitempty"`
	// Algorithms allowed. Default HS256 with a secret, else RS256.
	Algorithms []string `json:"algorithms,omitempty"`
	// PublicKeys are PEM files (PKIX, PKCS#1 or certificates).
	PublicKeys []string `json:"public_keys,omitempty"`
	// JWKSURL is fetched at start and refreshed in the background; an unknown kid triggers one
	// rate-limited refetch.
	JWKSURL string `json:"jwks_url,omitempty"`
	// JWKSRefresh is the background refresh period. Default 5m.
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`
	// Issuer and Audience are checked when set.
	Issuer   string   `json:"issuer,omitempty"`
	Audience []string `json:"audience,omitempty"`
	// RequireExp refuses tokens without an exp claim (401 invalid_token). Default true: a token that
	// never expires is a credential that cannot be revoked short of rotating the key. Set it to false for
	// issuers that mint tokens without exp; a present exp is checked either way. (Manifest routes follow
	// the dsp app's require_exp instead.)
	RequireExp *bool `json:"require_exp,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_auth", New: func() caddy.Module { return new(Handler) }}
}

// Provision sets up the key store and verifiers.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	appIface, err := ctx.App("dsp")
	if err != nil {
		return fmt.Errorf("getting dsp app: %w", err)
	}
	h.app = appIface.(*gateway.App)
	if h.CacheSize <= 0 {
		h.CacheSize = 10000
	}
	repl := caddy.NewReplacer()
	// Secrets may be placeholders or secret references (vault:, config:, env:, encrypted:).
	secret := func(v string) (string, error) { return h.app.ResolveRef(ctx, repl.ReplaceAll(v, "")) }
	svc, err := secret(h.JWTServiceSecret)
	if err != nil {
		return fmt.Errorf("jwt_service_secret: %w", err)
	}
	h.opts = auth.VerifyOptions{Leeway: time.Duration(h.Leeway), CacheSize: h.CacheSize, RequireExp: h.app.RequireExp, ServiceSecret: svc}
	bg, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	if h.APIKeys != nil || h.JWT != nil {
		h.static = &auth.StaticPolicy{Optional: h.Optional}
	}
	if k := h.APIKeys; k != nil {
		switch {
		case k.File != "":
			fs := &auth.FileStore{Path: repl.ReplaceAll(k.File, "")}
			if err := fs.Open(); err != nil {
				return fmt.Errorf("opening api key file: %w", err)
			}
			h.static.Keys = fs
		case k.Redis:
			rc := h.app.RedisClient()
			if k.RedisURL != "" {
				rc, err = newRedis(repl.ReplaceAll(k.RedisURL, ""))
				if err != nil {
					return err
				}
				ctx.OnCancel(func() { _ = rc.Close() })
			}
			if rc == nil {
				return errors.New("api_keys redis: no Redis configured (set `cache redis` in the dsp app or a redis URL)")
			}
			rs := &auth.RedisStore{Client: rc, Prefix: k.Prefix}
			if err := rs.Start(bg); err != nil {
				return fmt.Errorf("starting api key store: %w", err)
			}
			h.static.Keys = rs
		default:
			return errors.New("api_keys: set file or redis")
		}
	}
	if j := h.JWT; j != nil {
		s, err := secret(j.Secret)
		if err != nil {
			return fmt.Errorf("jwt secret: %w", err)
		}
		if err := h.provisionJWT(bg, repl, s); err != nil {
			return err
		}
	}
	return nil
}

// provisionJWT builds the static JWT policy's verifier and token cache; secret is JWT.Secret resolved.
func (h *Handler) provisionJWT(bg context.Context, repl *caddy.Replacer, secret string) error {
	j := h.JWT
	if h.static == nil {
		h.static = &auth.StaticPolicy{Optional: h.Optional}
	}
	if j.JWKSRefresh == 0 {
		j.JWKSRefresh = caddy.Duration(5 * time.Minute)
	}
	v := &auth.JWSVerifier{Algorithms: j.Algorithms, Issuer: j.Issuer, Audience: j.Audience, Leeway: time.Duration(h.Leeway),
		RequireExp: j.RequireExp == nil || *j.RequireExp}
	if secret != "" {
		v.HMACSecret = []byte(secret)
	}
	if len(v.Algorithms) == 0 {
		if len(v.HMACSecret) > 0 {
			v.Algorithms = []string{"HS256"}
		} else {
			v.Algorithms = []string{"RS256"}
		}
	}
	for _, f := range j.PublicKeys {
		pem, err := os.ReadFile(repl.ReplaceAll(f, ""))
		if err != nil {
			return fmt.Errorf("reading public key: %w", err)
		}
		key, err := auth.ParsePublicKeyPEM(pem)
		if err != nil {
			return fmt.Errorf("parsing public key %s: %w", f, err)
		}
		if v.PublicKeys == nil {
			v.PublicKeys = map[string]crypto.PublicKey{}
		}
		v.PublicKeys[""] = key
	}
	if j.JWKSURL != "" {
		v.JWKS = &auth.JWKS{URL: repl.ReplaceAll(j.JWKSURL, ""), Refresh: time.Duration(j.JWKSRefresh)}
		logger := h.logger
		v.JWKS.OnRefreshError = func(err error) { logger.Warn("refreshing jwks failed; keeping the previous keys", zap.Error(err)) }
		if err := v.JWKS.Start(bg); err != nil {
			return fmt.Errorf("fetching jwks: %w", err)
		}
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("jwt: %w", err)
	}
	h.static.JWT = v
	// A cached verification must not outlive the key that made it: with a JWKS, a retired key leaves the
	// set at the next refresh, so cached tokens live no longer than one refresh period.
	ttl := 5 * time.Minute
	if v.JWKS != nil && v.JWKS.Refresh > 0 && v.JWKS.Refresh < ttl {
		ttl = v.JWKS.Refresh
	}
	h.static.Cache = auth.NewTokenCache(h.CacheSize, ttl, nil)
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if h.JWT != nil && h.JWT.Secret == "" && len(h.JWT.PublicKeys) == 0 && h.JWT.JWKSURL == "" {
		return errors.New("jwt: set a secret, public keys or a jwks url")
	}
	return nil
}

// Cleanup stops background work.
func (h *Handler) Cleanup() error {
	if h.cancel != nil {
		h.cancel()
	}
	return nil
}

// ServeHTTP authenticates the request. Its errors, and those of the handlers after it, reach the client
// as FD2's JSON error even on a site without handle_errors (pipeline.Respond).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return pipeline.Serve(h, h.Name, w, r, next, h.logger)
}

// ServeStage is the stage's own work (pipeline.Stage).
func (h *Handler) ServeStage(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.serve(w, r, next)
}

// serve applies one policy — the matched route's, compiled with its manifest version, else the static
// one — through one code path.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	t0 := time.Now()
	x := pipeline.ExchangeOf(r)
	r, span := pipeline.StartSpan(r, "fd2.auth")
	defer span.End()
	next = stageDone(x, t0, next)
	var p *auth.Principal
	var err error
	switch {
	case x.Route != nil && x.Route.Auth != nil:
		p, err = x.Project.Consumers.Authenticate(r, x.ProjectID, x.Route.Auth, h.opts)
	case h.static != nil:
		p, err = h.static.Authenticate(r)
		if p == nil && err == nil {
			return next.ServeHTTP(w, r) // optional and no credential
		}
	default:
		return next.ServeHTTP(w, r)
	}
	if err != nil {
		ae := apierr.FromError(0, err) // the library's 401 or 403
		if ae.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fd2", error="invalid_token"`)
		}
		if c := h.logger.Check(zapcore.DebugLevel, "authentication failed"); c != nil {
			c.Write(zap.Error(err))
		}
		return caddyhttp.Error(ae.Status, ae)
	}
	// Scope: a credential bound to another project or module is valid but not allowed here.
	if x.ProjectID != "" {
		if !p.AllowsProject(x.ProjectID) {
			return caddyhttp.Error(http.StatusForbidden, auth.Forbidden("project_forbidden", "the credential is not valid for project "+x.ProjectID))
		}
		if x.Route != nil && !p.AllowsModule(x.Route.Module) {
			return caddyhttp.Error(http.StatusForbidden, auth.Forbidden("module_forbidden", "the credential is not valid for module "+x.Route.Module))
		}
	}
	x.Principal, x.Authenticated = p, true
	if c := h.logger.Check(zapcore.DebugLevel, "authenticated"); c != nil {
		c.Write(zap.String("consumer", p.Consumer), zap.String("method", p.Method))
	}
	span.SetAttributes(attribute.String("fd2.consumer", p.Consumer), attribute.String("fd2.auth_method", p.Method))
	span.End()
	return next.ServeHTTP(w, r)
}

// stageDone records the auth stage's own time when the next handler starts.
func stageDone(x *plan.Exchange, t0 time.Time, next caddyhttp.Handler) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		x.Done(plan.StageAuth, t0)
		return next.ServeHTTP(w, r)
	})
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_auth {
//		name <site label>
//		api_keys file <path>
//		api_keys redis [<url>]
//		jwt {
//			secret      <secret>
//			algorithms  <alg...>
//			public_key  <pem file>
//			jwks        <url>
//			jwks_refresh <duration>
//			issuer      <iss>
//			audience    <aud...>
//			require_exp on|off
//		}
//		jwt_service_secret <secret>
//		leeway     <duration>
//		cache_size <n>
//		optional
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		var err error
		switch name {
		case "name":
			return caddyfileopt.Args(d, &h.Name)
		case "api_keys":
			var kind string
			if !d.Args(&kind) {
				return d.ArgErr()
			}
			h.APIKeys = &APIKeysConfig{}
			switch kind {
			case "file":
				err = caddyfileopt.Args(d, &h.APIKeys.File)
			case "redis":
				// The URL is optional: without it the keys live in the dsp app's Redis.
				h.APIKeys.Redis = true
				if d.NextArg() {
					h.APIKeys.RedisURL = d.Val()
				}
			default:
				return d.Errf("api_keys: unknown store %q (want file or redis)", kind)
			}
		case "jwt":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.JWT = &JWTConfig{}
			err = parseJWT(d, h.JWT)
		case "jwt_service_secret":
			err = caddyfileopt.Args(d, &h.JWTServiceSecret)
		case "leeway":
			h.Leeway, err = caddyfileopt.Duration(d)
		case "cache_size":
			h.CacheSize, err = caddyfileopt.Int(d, 1)
		case "optional":
			h.Optional = true
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return err
	})
}

func parseJWT(d *caddyfile.Dispenser, j *JWTConfig) error {
	return caddyfileopt.Block(d, func(name string) error {
		var err error
		switch name {
		case "secret":
			err = caddyfileopt.Args(d, &j.Secret)
		case "algorithms":
			j.Algorithms, err = caddyfileopt.List(d)
		case "public_key":
			var f string
			err = caddyfileopt.Args(d, &f)
			j.PublicKeys = append(j.PublicKeys, f)
		case "jwks":
			err = caddyfileopt.Args(d, &j.JWKSURL)
		case "jwks_refresh":
			j.JWKSRefresh, err = caddyfileopt.PositiveDuration(d)
		case "issuer":
			err = caddyfileopt.Args(d, &j.Issuer)
		case "audience":
			j.Audience, err = caddyfileopt.List(d)
		case "require_exp":
			var on bool
			on, err = caddyfileopt.OnOff(d)
			j.RequireExp = &on
		default:
			return d.Errf("jwt: unrecognized subdirective %q", name)
		}
		return err
	}, "public_key")
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
