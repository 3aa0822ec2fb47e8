// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/route"
)

// consumers is the auth view of one project version: its APISIX consumers indexed by credential, and a
// verified-token cache of its own (a token verified for one project is never a cache hit for another).
// Consumers are scoped to their project: the original pushed them to APISIX as global consumers, so a key
// of project A opened project B's routes (spec §3.4); FD2 never looks outside the project.
type consumers struct {
	jwt     map[string]*jwtConsumer // by jwt-auth key
	jwe     map[string]*jweConsumer // by jwe-decrypt key (the JWE kid)
	keyAuth map[[32]byte]string     // sha256(key-auth key) → consumer username
	// shared is the one HMAC secret every jwt-auth consumer of the project carries, if they agree: the
	// DSP JWT service signs every token with a single secret, so this verifies the inner JWS of a
	// jwe-decrypt token whose key has no jwt-auth consumer. nil when there are none or they disagree.
	shared []byte
	cache  *auth.TokenCache
}

type jwtConsumer struct {
	username string
	verifier *auth.JWSVerifier
}

type jweConsumer struct {
	username string
	secret   string
}

type consumerPlugin struct {
	Key          string   `json:"key"`
	Secret       string   `json:"secret"`
	Algorithm    string   `json:"algorithm"`
	PublicKey    string   `json:"public_key"`
	Base64Secret bool     `json:"base64_secret"`
	Algorithms   []string `json:"algorithms"`
}

// indexOptions are the handler options a consumer index is built with: its verifiers' leeway and exp
// requirement, its token cache's size. They are part of the index's key in the project (consumerIndex).
type indexOptions struct {
	leeway     time.Duration
	cacheSize  int
	requireExp bool
}

// consumerIndex returns project p's consumer index built with this handler's options.
//
// A compiled project outlives a config reload (the dsp app shares its resolver, and so its projects, with
// the next config when its own settings did not change), and an index cached in the project under a fixed
// key kept the options of the first handler that built it — a reload with a new leeway changed nothing
// until the manifest did (issue 12 #10). Keyed by its options, an index is never used by a handler that
// verifies differently: the verified-token cache inside it is per options too, so a token admitted under
// a laxer leeway or exp rule is never a cache hit for a stricter handler. Each distinct option set costs
// one index per project version (they leave with it).
func (h *Handler) consumerIndex(p *gateway.Project) (*consumers, error) {
	o := h.opts
	key := fmt.Sprintf("dsp_auth.consumers leeway=%d cache_size=%d require_exp=%t", o.leeway, o.cacheSize, o.requireExp)
	v, err := p.Ext(key, func(p *gateway.Project) (any, error) { return buildConsumers(p, o) })
	if err != nil {
		return nil, err
	}
	return v.(*consumers), nil
}

// buildConsumers indexes project p's consumers by credential, their verifiers built with o.
func buildConsumers(p *gateway.Project, o indexOptions) (*consumers, error) {
	c := &consumers{jwt: map[string]*jwtConsumer{}, jwe: map[string]*jweConsumer{}, keyAuth: map[[32]byte]string{},
		cache: auth.NewTokenCache(o.cacheSize, 5*time.Minute, nil)}
	var secrets []string
	for _, cons := range p.Table.Consumers() {
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
				v, err := consumerVerifier(cp, o)
				if err != nil {
					return nil, fmt.Errorf("consumer %q jwt-auth: %w", name, err)
				}
				c.jwt[cp.Key] = &jwtConsumer{username: name, verifier: v}
				if len(v.HMACSecret) > 0 {
					secrets = append(secrets, string(v.HMACSecret))
				}
			case "jwe-decrypt":
				c.jwe[cp.Key] = &jweConsumer{username: name, secret: cp.Secret}
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
func consumerVerifier(cp consumerPlugin, o indexOptions) (*auth.JWSVerifier, error) {
	algs := cp.Algorithms
	if len(algs) == 0 {
		alg := cp.Algorithm
		if alg == "" {
			alg = "HS256"
		}
		algs = []string{alg}
	}
	v := &auth.JWSVerifier{Algorithms: algs, Leeway: o.leeway, RequireExp: o.requireExp}
	if strings.HasPrefix(algs[0], "HS") {
		if cp.Secret == "" {
			return nil, fmt.Errorf("%s needs a secret", algs[0])
		}
		v.HMACSecret = []byte(cp.Secret)
		if cp.Base64Secret {
			b, err := decodeBase64(cp.Secret)
			if err != nil {
				return nil, fmt.Errorf("decoding base64_secret: %w", err)
			}
			v.HMACSecret = b
		}
		return v, nil
	}
	if cp.PublicKey == "" {
		return nil, fmt.Errorf("%s needs a public_key", algs[0])
	}
	key, err := auth.ParsePublicKeyPEM([]byte(cp.PublicKey))
	if err != nil {
		return nil, err
	}
	v.PublicKeys = map[string]crypto.PublicKey{"": key}
	return v, nil
}

// routePolicy is how one route authenticates, from its plugins. Every auth plugin on a route must pass,
// in APISIX's order: jwe-decrypt (which can hand its inner JWS to jwt-auth), then jwt-auth, then key-auth.
type routePolicy struct {
	jwe *jweRoute
	jwt *jwtRoute
	key *keyRoute
}

type jwtRoute struct {
	Header string `json:"header"`
	Query  string `json:"query"`
	Cookie string `json:"cookie"`
	Hide   bool   `json:"hide_credentials"`
}

type jweRoute struct {
	Header         string `json:"header"`
	ForwardHeader  string `json:"forward_header"`
	Strict         *bool  `json:"strict"`
	ForwardPayload bool   `json:"forward_payload"`
	PayloadHeader  string `json:"forward_payload_header"`
}

type keyRoute struct {
	Header string `json:"header"`
	Query  string `json:"query"`
	Hide   bool   `json:"hide_credentials"`
}

func buildPolicy(rt *route.Route, info *gateway.RouteInfo) (*routePolicy, error) {
	p := &routePolicy{}
	raw := info.Transforms.Raw
	for _, name := range info.Transforms.Auth {
		var err error
		switch name {
		case "jwt-auth":
			p.jwt = &jwtRoute{Header: "Authorization", Query: "jwt", Cookie: "jwt"}
			err = decodeOpt(raw[name], p.jwt)
			p.jwt.Header = http.CanonicalHeaderKey(p.jwt.Header)
		case "jwe-decrypt":
			p.jwe = &jweRoute{Header: "Authorization", ForwardHeader: "Authorization", PayloadHeader: "X-JWE-Payload"}
			err = decodeOpt(raw[name], p.jwe)
		case "key-auth":
			p.key = &keyRoute{Header: "apikey", Query: "apikey"}
			err = decodeOpt(raw[name], p.key)
		default:
			// basic-auth, openid-connect, … are not implemented: the route fails closed.
			return nil, fmt.Errorf("route %s: authentication plugin %q is not supported by FD2", rt.ID, name)
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: plugin %s: %w", rt.ID, name, err)
		}
	}
	return p, nil
}

func decodeOpt(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	// Empty strings in the config keep the defaults set by the caller.
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
