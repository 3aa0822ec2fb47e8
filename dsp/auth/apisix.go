// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

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
	"strings"
	"sync"
	"time"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
)

// Consumers are the APISIX consumers of one project version, decoded once when the version compiles.
// Consumers are scoped to their project: the original pushed them to APISIX as global consumers, so a key
// of project A opened project B's routes (spec §3.4); FD2 never looks outside the project.
type Consumers struct {
	jwt     map[string]*consumerJWS // by jwt-auth key
	jwe     map[string]*consumerJWE // by jwe-decrypt key (the JWE kid)
	keyAuth map[[32]byte]string     // sha256(key-auth key) → consumer username
	// shared is the one HMAC secret every jwt-auth consumer of the project carries, if they agree: the
	// DSP JWT service signs every token with a single secret, so this verifies the inner JWS of a
	// jwe-decrypt token whose key has no jwt-auth consumer. nil when there are none or they disagree.
	shared []byte

	// indexes holds one *verifying per VerifyOptions a handler verifies with: the verifiers carry the
	// options, and the verified-token cache is per options too, so a token admitted under a laxer leeway
	// or exp rule is never a cache hit for a stricter handler. They leave with the project version.
	indexes sync.Map
}

type consumerJWS struct {
	username string
	template JWSVerifier // algorithms and keys; the options come from VerifyOptions
}

type consumerJWE struct {
	username string
	secret   string
}

// VerifyOptions are how a handler verifies tokens of manifest routes.
type VerifyOptions struct {
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// RequireExp refuses tokens without exp.
	RequireExp bool
	// CacheSize bounds the verified-token cache of each project version.
	CacheSize int
	// ServiceSecret is the DSP JWT service's signing secret, for the JWS inside a jwe-decrypt token whose
	// key has no jwt-auth consumer (nil: the project's single jwt-auth secret, if its consumers agree).
	ServiceSecret string
}

type verifying struct {
	jwt   map[string]*JWSVerifier
	cache *TokenCache
}

type consumerPlugin struct {
	Key          string   `json:"key"`
	Secret       string   `json:"secret"`
	Algorithm    string   `json:"algorithm"`
	PublicKey    string   `json:"public_key"`
	Base64Secret bool     `json:"base64_secret"`
	Algorithms   []string `json:"algorithms"`
}

// DecodeConsumers decodes and indexes the credentials of a project's consumers. An error names the
// consumer and plugin at fault.
func DecodeConsumers(list []manifest.Consumer) (*Consumers, error) {
	c := &Consumers{jwt: map[string]*consumerJWS{}, jwe: map[string]*consumerJWE{}, keyAuth: map[[32]byte]string{}}
	var secrets []string
	for _, cons := range list {
		name := cons.Username
		if name == "" {
			name = "anonymous"
		}
		for plugin, raw := range cons.Plugins {
			var cp consumerPlugin
			if err := json.Unmarshal(raw, &cp); err != nil {
				return nil, fmt.Errorf("decoding %s of consumer %q: %w", plugin, name, err)
			}
			switch plugin {
			case "jwt-auth":
				v, err := consumerVerifier(cp)
				if err != nil {
					return nil, fmt.Errorf("consumer %q jwt-auth: %w", name, err)
				}
				c.jwt[cp.Key] = &consumerJWS{username: name, template: v}
				if len(v.HMACSecret) > 0 {
					secrets = append(secrets, string(v.HMACSecret))
				}
			case "jwe-decrypt":
				c.jwe[cp.Key] = &consumerJWE{username: name, secret: cp.Secret}
			case "key-auth":
				if cp.Key != "" {
					c.keyAuth[sha256.Sum256([]byte(cp.Key))] = name
				}
			}
		}
	}
	if len(secrets) > 0 {
		same := true
		for _, s := range secrets[1:] {
			same = same && s == secrets[0]
		}
		if same {
			c.shared = []byte(secrets[0])
		}
	}
	return c, nil
}

// consumerVerifier builds the JWS verifier of an APISIX jwt-auth consumer: HS256 with `secret` by default
// (what the DSP JWT service issues), or the consumer's algorithm with its public key.
func consumerVerifier(cp consumerPlugin) (JWSVerifier, error) {
	algs := cp.Algorithms
	if len(algs) == 0 {
		alg := cp.Algorithm
		if alg == "" {
			alg = "HS256"
		}
		algs = []string{alg}
	}
	v := JWSVerifier{Algorithms: algs}
	if strings.HasPrefix(algs[0], "HS") {
		if cp.Secret == "" {
			return v, fmt.Errorf("%s needs a secret", algs[0])
		}
		v.HMACSecret = []byte(cp.Secret)
		if cp.Base64Secret {
			b, err := decodeBase64(cp.Secret)
			if err != nil {
				return v, fmt.Errorf("decoding base64_secret: %w", err)
			}
			v.HMACSecret = b
		}
		return v, nil
	}
	if cp.PublicKey == "" {
		return v, fmt.Errorf("%s needs a public_key", algs[0])
	}
	key, err := ParsePublicKeyPEM([]byte(cp.PublicKey))
	if err != nil {
		return v, err
	}
	v.PublicKeys = map[string]crypto.PublicKey{"": key}
	return v, nil
}

// with returns the verifiers and token cache for options o, built on first use (it cannot fail: every
// credential was decoded by DecodeConsumers).
func (c *Consumers) with(o VerifyOptions) *verifying {
	if v, ok := c.indexes.Load(o); ok {
		return v.(*verifying)
	}
	size := o.CacheSize
	if size <= 0 {
		size = 10000
	}
	vs := &verifying{jwt: make(map[string]*JWSVerifier, len(c.jwt)), cache: NewTokenCache(size, 5*time.Minute, nil)}
	for key, cj := range c.jwt {
		v := cj.template
		v.Leeway, v.RequireExp = o.Leeway, o.RequireExp
		vs.jwt[key] = &v
	}
	got, _ := c.indexes.LoadOrStore(o, vs)
	return got.(*verifying)
}

// RoutePolicy is how one manifest route authenticates, decoded from its plugins once when the manifest
// version compiles. Every auth plugin on a route must pass, in APISIX's order: jwe-decrypt (which can hand
// its inner JWS to jwt-auth), then jwt-auth, then key-auth.
type RoutePolicy struct {
	JWE *JWEDecrypt
	JWT *JWTAuth
	Key *KeyAuth
}

// JWTAuth is the route config of APISIX jwt-auth.
type JWTAuth struct {
	Header string `json:"header"`
	Query  string `json:"query"`
	Cookie string `json:"cookie"`
	Hide   bool   `json:"hide_credentials"`
	// ConsumerKeys, an FD2 extension, admits only the consumers with these jwt-auth keys (empty: every
	// consumer of the project). A rag_service or model_server module's jwt_module_reference sets it to
	// the key its jwt_config module issues tokens for.
	ConsumerKeys []string `json:"fd2_consumer_keys"`
}

// JWEDecrypt is the route config of APISIX jwe-decrypt.
type JWEDecrypt struct {
	Header         string `json:"header"`
	ForwardHeader  string `json:"forward_header"`
	Strict         *bool  `json:"strict"`
	ForwardPayload bool   `json:"forward_payload"`
	PayloadHeader  string `json:"forward_payload_header"`
}

// KeyAuth is the route config of APISIX key-auth.
type KeyAuth struct {
	Header string `json:"header"`
	Query  string `json:"query"`
	Hide   bool   `json:"hide_credentials"`
}

// DecodeRoutePolicy decodes the authentication plugins names of a route (their configs in raw). An
// authentication plugin FD2 does not implement is an error: the route fails closed.
func DecodeRoutePolicy(names []string, raw manifest.Plugins) (*RoutePolicy, error) {
	p := &RoutePolicy{}
	for _, name := range names {
		var err error
		switch name {
		case "jwt-auth":
			p.JWT = &JWTAuth{Header: "Authorization", Query: "jwt", Cookie: "jwt"}
			err = decodeOpt(raw[name], p.JWT)
			p.JWT.Header = http.CanonicalHeaderKey(p.JWT.Header)
		case "jwe-decrypt":
			p.JWE = &JWEDecrypt{Header: "Authorization", ForwardHeader: "Authorization", PayloadHeader: "X-JWE-Payload"}
			err = decodeOpt(raw[name], p.JWE)
		case "key-auth":
			p.Key = &KeyAuth{Header: "apikey", Query: "apikey"}
			err = decodeOpt(raw[name], p.Key)
		default:
			return nil, fmt.Errorf("authentication plugin %q is not supported by FD2", name)
		}
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
	}
	return p, nil
}

// decodeOpt decodes a plugin config over the defaults already in v; empty strings keep the defaults.
func decodeOpt(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for k, val := range m {
		if s, ok := val.(string); ok && s == "" {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	return json.Unmarshal(b, v)
}

// Authenticate checks r against the route policy p with the project's consumers. Failures are
// *apierr.Error: 401 for a missing or bad credential, 403 for a token of another project. Credentials the
// plugins say to hide, and key-auth keys always, are taken off the request.
func (c *Consumers) Authenticate(r *http.Request, project string, p *RoutePolicy, o VerifyOptions) (*Principal, error) {
	vs := c.with(o)
	var pr *Principal
	var err error
	if p.JWE != nil {
		if pr, err = c.jweDecrypt(r, vs, o, p.JWE); err != nil {
			return nil, err
		}
	}
	if p.JWT != nil {
		if pr, err = c.jwtAuth(r, project, vs, p.JWT); err != nil {
			return nil, err
		}
	}
	if p.Key != nil {
		kp, err := c.keyAuthenticate(r, p.Key)
		if err != nil {
			return nil, err
		}
		if pr == nil {
			pr = kp
		}
	}
	return pr, nil
}

// Unauthorized is a 401 with the message clients see.
func Unauthorized(code, msg string, cause error) *apierr.Error {
	return apierr.Wrap(http.StatusUnauthorized, code, msg, cause)
}

// Forbidden is a 403 with the message clients see.
func Forbidden(code, msg string) *apierr.Error {
	return apierr.New(http.StatusForbidden, code, msg)
}

// Bearer strips an optional "Bearer " scheme from an Authorization value.
func Bearer(v string) string {
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return strings.TrimSpace(v)
}

// tokenFrom finds a jwt-auth token: header, then query, then cookie (APISIX order). A token found in the
// query string is removed from it at once — from the URL sent upstream and from the request URI Caddy
// logs — since query strings end up in logs everywhere.
func tokenFrom(r *http.Request, cfg *JWTAuth) string {
	if v := r.Header.Get(cfg.Header); v != "" {
		return Bearer(v)
	}
	if v := messagesAPIKey(r); v != "" {
		return Bearer(v)
	}
	if cfg.Query != "" {
		if v := takeQuery(r, cfg.Query); v != "" {
			return v
		}
	}
	if cfg.Cookie != "" {
		if ck, err := r.Cookie(cfg.Cookie); err == nil && ck.Value != "" {
			return ck.Value
		}
	}
	return ""
}

func (c *Consumers) jwtAuth(r *http.Request, project string, vs *verifying, cfg *JWTAuth) (*Principal, error) {
	tok := tokenFrom(r, cfg)
	if tok == "" {
		return nil, Unauthorized("missing_token", "Missing JWT token in request", nil)
	}
	if p, ok := vs.cache.Get(tok); ok {
		if err := c.admits(cfg, p); err != nil {
			return nil, err
		}
		if cfg.Hide {
			r.Header.Del(cfg.Header) // as on the first use of the token
		}
		return p, nil
	}
	keyv, err := UnverifiedClaim(tok, "key")
	if err != nil {
		return nil, Unauthorized("invalid_token", "JWT token invalid", err)
	}
	key, _ := keyv.(string)
	if key == "" {
		return nil, Unauthorized("invalid_token", "missing user key in JWT token", nil)
	}
	v, ok := vs.jwt[key]
	if !ok {
		if otherProject(tok, project) {
			return nil, Forbidden("project_forbidden", "the token is not valid for project "+project)
		}
		return nil, Unauthorized("invalid_token", "Invalid user key in JWT token", nil)
	}
	claims, err := v.Verify(r.Context(), tok)
	if err != nil {
		return nil, Unauthorized("invalid_token", TokenMessage(err), err)
	}
	p := PrincipalFromClaims("jwt-auth", c.jwt[key].username, claims)
	vs.cache.Put(tok, p)
	if err := c.admits(cfg, p); err != nil {
		return nil, err
	}
	if cfg.Hide {
		r.Header.Del(cfg.Header)
	}
	return p, nil
}

// admits checks a verified principal against the route's ConsumerKeys. It compares consumers, not keys,
// so a principal from the token cache (which another route may have filled) is checked the same way.
func (c *Consumers) admits(cfg *JWTAuth, p *Principal) error {
	if len(cfg.ConsumerKeys) == 0 {
		return nil
	}
	for _, k := range cfg.ConsumerKeys {
		if cj, ok := c.jwt[k]; ok && cj.username == p.Consumer {
			return nil
		}
	}
	return Forbidden("consumer_forbidden", "the token's consumer may not use this module")
}

// otherProject reports whether an (unverified) token names a project other than this one; such a token
// is refused with 403 rather than 401, which tells its holder the credential is fine but aimed wrong.
func otherProject(tok, project string) bool {
	v, err := UnverifiedClaim(tok, "project")
	s, _ := v.(string)
	return err == nil && s != "" && s != project
}

// TokenMessage is the client's message for a token verification error.
func TokenMessage(err error) string {
	switch {
	case errors.Is(err, ErrTokenExpired):
		return "JWT token expired"
	case errors.Is(err, ErrTokenNotYetValid):
		return "JWT token not yet valid"
	case errors.Is(err, ErrTokenMalformed):
		return "JWT token invalid"
	default:
		return "failed to verify jwt"
	}
}

func (c *Consumers) jweDecrypt(r *http.Request, vs *verifying, o VerifyOptions, cfg *JWEDecrypt) (*Principal, error) {
	tok := Bearer(r.Header.Get(cfg.Header))
	if tok == "" {
		return nil, Unauthorized("missing_token", "missing JWE token in request", nil)
	}
	hdr, err := UnverifiedHeader(tok)
	if err != nil {
		return nil, Unauthorized("invalid_token", "JWE token invalid", err)
	}
	kid, _ := hdr["kid"].(string)
	cj, ok := c.jwe[kid]
	if !ok {
		return nil, Unauthorized("invalid_token", "unknown JWE key id", nil)
	}
	enc, _ := hdr["enc"].(string)
	key, err := DeriveJWEKey(cj.secret, enc)
	if err != nil {
		return nil, Unauthorized("invalid_token", "JWE token invalid", err)
	}
	plain, _, err := DecryptDir(tok, func(string) ([]byte, error) { return key, nil })
	if err != nil {
		return nil, Unauthorized("invalid_token", "failed to decrypt JWE token", err)
	}
	var inner struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(plain, &inner); err != nil || inner.JWT == "" {
		return nil, Unauthorized("invalid_token", "JWE payload is not a wrapped JWT", err)
	}
	claims, err := c.verifyInner(r.Context(), vs, o, inner.JWT)
	if err != nil {
		return nil, Unauthorized("invalid_token", "the JWT inside the JWE "+strings.TrimPrefix(TokenMessage(err), "JWT token "), err)
	}
	r.Header.Set(cfg.ForwardHeader, "Bearer "+inner.JWT)
	if cfg.ForwardPayload {
		payload, _ := json.Marshal(claims)
		r.Header.Set(cfg.PayloadHeader, base64.RawURLEncoding.EncodeToString(payload))
	}
	return PrincipalFromClaims("jwe-decrypt", cj.username, claims), nil
}

// verifyInner verifies the JWS a JWE wraps: with the jwt-auth consumer its key claim names, else the JWT
// service secret, else the project's single jwt-auth secret. An unsigned inner token is refused.
func (c *Consumers) verifyInner(ctx context.Context, vs *verifying, o VerifyOptions, jws string) (map[string]any, error) {
	if kv, err := UnverifiedClaim(jws, "key"); err == nil {
		if key, _ := kv.(string); key != "" {
			if v, ok := vs.jwt[key]; ok {
				return v.Verify(ctx, jws)
			}
		}
	}
	secret := []byte(o.ServiceSecret)
	if len(secret) == 0 {
		secret = c.shared
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("no key to verify the inner JWT: %w", ErrUnknownKey)
	}
	v := &JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: secret, Leeway: o.Leeway, RequireExp: o.RequireExp}
	return v.Verify(ctx, jws)
}

func (c *Consumers) keyAuthenticate(r *http.Request, cfg *KeyAuth) (*Principal, error) {
	// The key is the gateway's credential: it is taken off the request whatever the outcome, so that
	// neither the upstream nor Caddy's request logs (which redact Authorization and Cookie, not apikey)
	// ever see it.
	key := r.Header.Get(cfg.Header)
	r.Header.Del(cfg.Header)
	if key == "" {
		key = messagesAPIKey(r)
	}
	if cfg.Query != "" {
		if v := takeQuery(r, cfg.Query); key == "" {
			key = v
		}
	}
	if key == "" {
		return nil, Unauthorized("missing_key", "Missing API key found in request", nil)
	}
	// Map lookup by hash: the key never sits in a map as is, and a lookup leaks nothing about near misses.
	name, ok := c.keyAuth[sha256.Sum256([]byte(key))]
	if !ok {
		return nil, Unauthorized("invalid_key", "Invalid API key in request", nil)
	}
	return &Principal{Method: "key-auth", Consumer: name}, nil
}

// messagesAPIKey takes the credential of a Claude client off a Messages API request: the Anthropic SDKs and
// Claude Code send their key as x-api-key or as an Authorization bearer token, and cannot be told to use the
// route's configured header, so either stands in for it there. It is FD2's credential and never travels
// further.
func messagesAPIKey(r *http.Request) string {
	if !apierr.AnthropicPath(r.URL.Path) {
		return ""
	}
	v := r.Header.Get("X-Api-Key")
	r.Header.Del("X-Api-Key")
	if v == "" {
		if v = Bearer(r.Header.Get("Authorization")); v != "" {
			r.Header.Del("Authorization")
		}
	}
	return v
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
