// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package auth is the `dsp_auth` handler: it authenticates requests the way the matched route's manifest
// says (APISIX jwt-auth, jwe-decrypt and key-auth with the project's consumers), or, for routes without
// manifest auth plugins, with a static policy from the Caddyfile (FD2 API keys, JWT with a secret, PEM
// keys or a JWKS URL). It also provides the `fd2 keys` command that manages API keys.
package auth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
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
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_auth", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// VarKey is the caddyhttp var holding the request's *auth.Principal.
const VarKey = "dsp_principal"

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

	app       *gateway.App
	logger    *zap.Logger
	keys      auth.KeyStore
	static    *auth.JWSVerifier
	staticC   *auth.TokenCache
	svcSecret []byte
	cancel    context.CancelFunc
	opts      indexOptions // how this handler verifies manifest routes' tokens
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
	h.svcSecret = []byte(svc)
	h.opts = indexOptions{leeway: time.Duration(h.Leeway), cacheSize: h.CacheSize, requireExp: h.app.RequireExp}
	bg, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	if k := h.APIKeys; k != nil {
		switch {
		case k.File != "":
			fs := &auth.FileStore{Path: repl.ReplaceAll(k.File, "")}
			if err := fs.Open(); err != nil {
				return fmt.Errorf("opening api key file: %w", err)
			}
			h.keys = fs
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
			h.keys = rs
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
	h.static = v
	// A cached verification must not outlive the key that made it: with a JWKS, a retired key leaves the
	// set at the next refresh, so cached tokens live no longer than one refresh period.
	ttl := 5 * time.Minute
	if v.JWKS != nil && v.JWKS.Refresh > 0 && v.JWKS.Refresh < ttl {
		ttl = v.JWKS.Refresh
	}
	h.staticC = auth.NewTokenCache(h.CacheSize, ttl, nil)
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

// authError is a 401/403 with the message clients see.
func unauthorized(code, msg string, cause error) error {
	return caddyhttp.Error(http.StatusUnauthorized, apierr.Wrap(http.StatusUnauthorized, code, msg, cause))
}

func forbidden(code, msg string) error {
	return caddyhttp.Error(http.StatusForbidden, apierr.New(http.StatusForbidden, code, msg))
}

// ServeHTTP authenticates the request. Its errors, and those of the handlers after it, reach the client
// as FD2's JSON error even on a site without handle_errors (gateway.Respond).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return gateway.Respond(w, r, h.serve(w, r, next), h.logger)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	t0 := time.Now()
	st := gateway.RequestFrom(r)
	r, span := gateway.StartSpan(r, "fd2.auth")
	defer span.End()
	if st != nil {
		next = stageDone(st, t0, next)
	}
	var p *auth.Principal
	var err error
	switch {
	case st != nil && st.Info != nil && st.Info.Transforms != nil && len(st.Info.Transforms.Auth) > 0:
		p, err = h.manifestAuth(r, st)
	case h.APIKeys != nil || h.JWT != nil:
		p, err = h.staticAuth(r)
		if p == nil && err == nil {
			return next.ServeHTTP(w, r) // optional and no credential
		}
	default:
		return next.ServeHTTP(w, r)
	}
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fd2", error="invalid_token"`)
		}
		if c := h.logger.Check(zapcore.DebugLevel, "authentication failed"); c != nil {
			c.Write(zap.Error(err))
		}
		return err
	}
	// Scope: a credential bound to another project or module is valid but not allowed here.
	if st != nil && st.Project != "" {
		if !p.AllowsProject(st.Project) {
			return forbidden("project_forbidden", "the credential is not valid for project "+st.Project)
		}
		if st.Route != nil && !p.AllowsModule(st.Route.Module) {
			return forbidden("module_forbidden", "the credential is not valid for module "+st.Route.Module)
		}
	}
	caddyhttp.SetVar(r.Context(), VarKey, p)
	if st != nil {
		st.Authenticated = true
		st.Consumer = p.Consumer
		st.Principal = p
	} else if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// Without dsp_manifest nobody serves {dsp.*}: publish the principal's placeholders here.
		repl.Map(func(key string) (any, bool) { return principalPlaceholder(p, key) })
	}
	if c := h.logger.Check(zapcore.DebugLevel, "authenticated"); c != nil {
		c.Write(zap.String("consumer", p.Consumer), zap.String("method", p.Method))
	}
	if st == nil { // with dsp_manifest the consumer is logged from the Request
		if elf, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
			elf.Add(zap.String("dsp_consumer", p.Consumer))
		}
	}
	span.SetAttributes(attribute.String("fd2.consumer", p.Consumer), attribute.String("fd2.auth_method", p.Method))
	span.End()
	return next.ServeHTTP(w, r)
}

func principalPlaceholder(p *auth.Principal, key string) (any, bool) {
	switch key {
	case "dsp.consumer":
		return p.Consumer, true
	case "dsp.subject":
		return p.Subject, true
	}
	if name, ok := strings.CutPrefix(key, "dsp.claim."); ok {
		v, _ := p.Claim(name)
		return v, true
	}
	return nil, false
}

// stageDone records the auth stage's own time when the next handler starts.
func stageDone(st *gateway.Request, t0 time.Time, next caddyhttp.Handler) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		st.Done(gateway.StageAuth, t0)
		return next.ServeHTTP(w, r)
	})
}

// PrincipalFrom returns the principal dsp_auth authenticated r as, or nil.
func PrincipalFrom(r *http.Request) *auth.Principal {
	p, _ := caddyhttp.GetVar(r.Context(), VarKey).(*auth.Principal)
	return p
}

func (h *Handler) manifestAuth(r *http.Request, st *gateway.Request) (*auth.Principal, error) {
	cons, err := h.consumerIndex(st.Compiled)
	if err != nil {
		return nil, caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable,
			"auth_misconfigured", "the project's consumers are misconfigured", err))
	}
	pv, err := st.Compiled.Ext("dsp_auth.route."+st.Route.ID, func(*gateway.Project) (any, error) {
		return buildPolicy(st.Route, st.Info)
	})
	if err != nil {
		return nil, caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable,
			"route_misconfigured", "route "+st.Route.ID+" has an unsupported authentication configuration", err))
	}
	pol := pv.(*routePolicy)
	var p *auth.Principal
	if pol.jwe != nil {
		if p, err = h.jweDecrypt(r, st, cons, pol.jwe); err != nil {
			return nil, err
		}
	}
	if pol.jwt != nil {
		if p, err = h.jwtAuth(r, st, cons, pol.jwt); err != nil {
			return nil, err
		}
	}
	if pol.key != nil {
		kp, err := keyAuth(r, cons, pol.key)
		if err != nil {
			return nil, err
		}
		if p == nil {
			p = kp
		}
	}
	return p, nil
}

func bearer(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return strings.TrimSpace(v)
}

// tokenFrom finds a jwt-auth token: header, then query, then cookie (APISIX order). A token found in the
// query string is removed from it at once — from the URL sent upstream and from the request URI Caddy
// logs — since query strings end up in logs everywhere.
func tokenFrom(r *http.Request, cfg *jwtRoute) string {
	if v := r.Header.Get(cfg.Header); v != "" {
		return bearer(v)
	}
	if cfg.Query != "" {
		if v := takeQuery(r, cfg.Query); v != "" {
			return v
		}
	}
	if cfg.Cookie != "" {
		if c, err := r.Cookie(cfg.Cookie); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

func (h *Handler) jwtAuth(r *http.Request, st *gateway.Request, cons *consumers, cfg *jwtRoute) (*auth.Principal, error) {
	tok := tokenFrom(r, cfg)
	if tok == "" {
		return nil, unauthorized("missing_token", "Missing JWT token in request", nil)
	}
	if p, ok := cons.cache.Get(tok); ok {
		return p, nil
	}
	keyv, err := auth.UnverifiedClaim(tok, "key")
	if err != nil {
		return nil, unauthorized("invalid_token", "JWT token invalid", err)
	}
	key, _ := keyv.(string)
	if key == "" {
		return nil, unauthorized("invalid_token", "missing user key in JWT token", nil)
	}
	c, ok := cons.jwt[key]
	if !ok {
		if other := otherProject(tok, st.Project); other {
			return nil, forbidden("project_forbidden", "the token is not valid for project "+st.Project)
		}
		return nil, unauthorized("invalid_token", "Invalid user key in JWT token", nil)
	}
	claims, err := c.verifier.Verify(r.Context(), tok)
	if err != nil {
		return nil, unauthorized("invalid_token", tokenMessage(err), err)
	}
	p := auth.PrincipalFromClaims("jwt-auth", c.username, claims)
	cons.cache.Put(tok, p)
	if cfg.Hide {
		r.Header.Del(cfg.Header)
	}
	return p, nil
}

// otherProject reports whether an (unverified) token names a project other than this one; such a token
// is refused with 403 rather than 401, which tells its holder the credential is fine but aimed wrong.
func otherProject(tok, project string) bool {
	v, err := auth.UnverifiedClaim(tok, "project")
	s, _ := v.(string)
	return err == nil && s != "" && s != project
}

func tokenMessage(err error) string {
	switch {
	case errors.Is(err, auth.ErrTokenExpired):
		return "JWT token expired"
	case errors.Is(err, auth.ErrTokenNotYetValid):
		return "JWT token not yet valid"
	case errors.Is(err, auth.ErrTokenMalformed):
		return "JWT token invalid"
	default:
		return "failed to verify jwt"
	}
}

func (h *Handler) jweDecrypt(r *http.Request, st *gateway.Request, cons *consumers, cfg *jweRoute) (*auth.Principal, error) {
	tok := bearer(r.Header.Get(cfg.Header))
	if tok == "" {
		return nil, unauthorized("missing_token", "missing JWE token in request", nil)
	}
	hdr, err := auth.UnverifiedHeader(tok)
	if err != nil {
		return nil, unauthorized("invalid_token", "JWE token invalid", err)
	}
	kid, _ := hdr["kid"].(string)
	c, ok := cons.jwe[kid]
	if !ok {
		return nil, unauthorized("invalid_token", "unknown JWE key id", nil)
	}
	enc, _ := hdr["enc"].(string)
	key, err := auth.DeriveJWEKey(c.secret, enc)
	if err != nil {
		return nil, unauthorized("invalid_token", "JWE token invalid", err)
	}
	plain, _, err := auth.DecryptDir(tok, func(string) ([]byte, error) { return key, nil })
	if err != nil {
		return nil, unauthorized("invalid_token", "failed to decrypt JWE token", err)
	}
	var inner struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(plain, &inner); err != nil || inner.JWT == "" {
		return nil, unauthorized("invalid_token", "JWE payload is not a wrapped JWT", err)
	}
	claims, err := h.verifyInner(r.Context(), cons, inner.JWT)
	if err != nil {
		return nil, unauthorized("invalid_token", "the JWT inside the JWE "+strings.TrimPrefix(tokenMessage(err), "JWT token "), err)
	}
	r.Header.Set(cfg.ForwardHeader, "Bearer "+inner.JWT)
	if cfg.ForwardPayload {
		payload, _ := json.Marshal(claims)
		r.Header.Set(cfg.PayloadHeader, base64.RawURLEncoding.EncodeToString(payload))
	}
	return auth.PrincipalFromClaims("jwe-decrypt", c.username, claims), nil
}

// verifyInner verifies the JWS a JWE wraps: with the jwt-auth consumer its key claim names, else the JWT
// service secret, else the project's single jwt-auth secret. An unsigned inner token is refused.
func (h *Handler) verifyInner(ctx context.Context, cons *consumers, jws string) (map[string]any, error) {
	if kv, err := auth.UnverifiedClaim(jws, "key"); err == nil {
		if key, _ := kv.(string); key != "" {
			if c, ok := cons.jwt[key]; ok {
				return c.verifier.Verify(ctx, jws)
			}
		}
	}
	secret := h.svcSecret
	if len(secret) == 0 {
		secret = cons.shared
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("no key to verify the inner JWT: %w", auth.ErrUnknownKey)
	}
	v := &auth.JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: secret, Leeway: h.opts.leeway, RequireExp: h.opts.requireExp}
	return v.Verify(ctx, jws)
}

func keyAuth(r *http.Request, cons *consumers, cfg *keyRoute) (*auth.Principal, error) {
	// The key is the gateway's credential: it is taken off the request whatever the outcome, so that
	// neither the upstream nor Caddy's request logs (which redact Authorization and Cookie, not apikey)
	// ever see it.
	key := r.Header.Get(cfg.Header)
	r.Header.Del(cfg.Header)
	if cfg.Query != "" {
		if v := takeQuery(r, cfg.Query); key == "" {
			key = v
		}
	}
	if key == "" {
		return nil, unauthorized("missing_key", "Missing API key found in request", nil)
	}
	// Map lookup by hash: the key never sits in a map as is, and a lookup leaks nothing about near misses.
	name, ok := cons.keyAuth[sha256.Sum256([]byte(key))]
	if !ok {
		return nil, unauthorized("invalid_key", "Invalid API key in request", nil)
	}
	return &auth.Principal{Method: "key-auth", Consumer: name}, nil
}

// staticAuth applies the Caddyfile policy. It returns (nil, nil) when Optional and no credential is present.
func (h *Handler) staticAuth(r *http.Request) (*auth.Principal, error) {
	cred := bearer(r.Header.Get("Authorization"))
	// API key headers are FD2's own credentials: removed from the request at once (see keyAuth).
	if v := r.Header.Get("X-API-Key"); v != "" {
		if cred == "" {
			cred = v
		}
		r.Header.Del("X-API-Key")
	}
	if v := r.Header.Get("Api-Key"); v != "" {
		if cred == "" {
			cred = v
		}
		r.Header.Del("Api-Key")
	}
	if h.keys != nil && cred != "" {
		if _, ok := auth.ParseAPIKey(cred); ok && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer fd2_") {
			r.Header.Del("Authorization")
		}
	}
	if cred == "" {
		if h.Optional {
			return nil, nil
		}
		return nil, unauthorized("missing_credentials", "an API key or bearer token is required", nil)
	}
	if h.keys != nil {
		if _, ok := auth.ParseAPIKey(cred); ok {
			k, err := h.keys.Lookup(r.Context(), cred)
			if err != nil {
				msg := "invalid API key"
				if errors.Is(err, auth.ErrKeyRevoked) {
					msg = "API key revoked"
				} else if errors.Is(err, auth.ErrKeyExpired) {
					msg = "API key expired"
				}
				return nil, unauthorized("invalid_api_key", msg, err)
			}
			return k.Principal(), nil
		}
	}
	if h.static != nil && strings.Count(cred, ".") == 2 {
		if p, ok := h.staticC.Get(cred); ok {
			return p, nil
		}
		claims, err := h.static.Verify(r.Context(), cred)
		if err != nil {
			return nil, unauthorized("invalid_token", tokenMessage(err), err)
		}
		p := auth.PrincipalFromClaims("jwt", "", claims)
		p.Consumer = p.Subject
		h.staticC.Put(cred, p)
		return p, nil
	}
	return nil, unauthorized("invalid_credentials", "the credential is not a valid API key or token", nil)
}

// takeQuery returns and removes a query parameter, keeping r.URL and r.RequestURI in step.
func takeQuery(r *http.Request, name string) string {
	q := r.URL.Query()
	v := q.Get(name)
	if v == "" {
		return ""
	}
	q.Del(name)
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
	return v
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_auth {
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
