// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package plugins compiles the APISIX plugin configs of a manifest route into request and response
// transforms that FD2 runs natively: proxy-rewrite, request-id, response-rewrite, cors and
// ai-prompt-template. Configs are parsed once per manifest version; the per-request work is plain string and
// header manipulation.
//
// Plugins are sorted into three groups by Compile:
//   - transforms FD2 runs here (the ones above, ai-prompt-decorator, and prometheus, whose metrics FD2
//     always exports; ai-proxy and ai-proxy-multi hand the route to the inference module);
//   - plugins owned by another FD2 stage: authentication (jwt-auth, jwe-decrypt, key-auth, …) and rate limits
//     (limit-req, limit-count, ai-rate-limiting, …). They are listed in Transforms.Auth and Transforms.Limits
//     so that dispatch can refuse a request no stage has authenticated (fail closed);
//   - everything else. A security-relevant plugin FD2 does not implement (ip-restriction, openid-connect,
//     forward-auth, …) makes the route fail closed; any other unknown plugin is a warning and is ignored.
//
// A config that does not parse fails its route (503 route_misconfigured), except a global one (from
// global_plugins) of cors, request-id, response-rewrite or prometheus: APISIX drops a global rule that
// fails its schema and keeps serving, so FD2 drops that plugin with a warning and the route serves.
//
// This package never imports Caddy.
package plugins

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

// AuthPlugins are the APISIX authentication plugins; a route carrying one must be authenticated by the
// dsp_auth stage or is refused.
var AuthPlugins = map[string]bool{
	"jwt-auth": true, "jwe-decrypt": true, "key-auth": true, "basic-auth": true, "hmac-auth": true,
	"openid-connect": true, "ldap-auth": true, "wolf-rbac": true, "authz-keycloak": true, "authz-casdoor": true,
	"authz-casbin": true, "cas-auth": true, "forward-auth": true, "opa": true, "multi-auth": true,
}

// LimitPlugins are the APISIX rate-limiting plugins, enforced by the dsp_ratelimit stage.
var LimitPlugins = map[string]bool{
	"limit-req": true, "limit-count": true, "limit-conn": true, "ai-rate-limiting": true,
}

// restrictive plugins deny traffic; FD2 does not implement them yet, so a route that has one fails closed.
var restrictive = map[string]bool{
	"ip-restriction": true, "ua-restriction": true, "referer-restriction": true, "consumer-restriction": true,
	"uri-blocker": true, "csrf": true, "request-validation": true, "ai-prompt-guard": true, "ai-aws-content-moderation": true,
}

// ignorable plugins are accepted without effect, with a warning. serverless functions hold inline Lua
// that cannot be ported (spec §3.5).
var ignorable = map[string]bool{
	"serverless-pre-function": true, "serverless-post-function": true, "http-logger": true,
	"opentelemetry": true, "zipkin": true, "skywalking": true, "file-logger": true, "gzip": true,
	"real-ip": true, "redirect": true, "client-control": true, "proxy-cache": true, "api-breaker": true,
}

// Transforms is the compiled plugin set of one route. A nil pointer field means "plugin absent".
type Transforms struct {
	RequestID      *RequestID
	ProxyRewrite   *ProxyRewrite
	Response       *ResponseRewrite
	CORS           *CORS
	PromptTemplate *PromptTemplate
	// PromptDecorator is ai-prompt-decorator.
	PromptDecorator *PromptDecorator
	// AIProxy is set when the route carries ai-proxy or ai-proxy-multi: the inference module serves it
	// instead of the route's upstream.
	AIProxy bool
	// Auth lists the route's authentication plugins, sorted (see AuthPlugins).
	Auth []string
	// Limits lists the route's rate-limiting plugins, sorted (see LimitPlugins).
	Limits []string
	// Denied is set when the route carries a restrictive plugin FD2 cannot enforce: the route fails closed.
	Denied string
	// Raw keeps every plugin config for the stages that own them.
	Raw manifest.Plugins
}

// droppableGlobals are the plugins whose global (global_plugins) config may fail without closing the
// routes: APISIX drops a global rule that fails its schema and keeps serving, and losing one of these only
// loses a header or a metric (a browser without CORS headers is refused, which is the safe side). The
// other transforms change what reaches the upstream (proxy-rewrite's URI and credentials, prompt templates
// and decorators), so a broken global one still fails the route closed; so does any route-level plugin.
var droppableGlobals = map[string]bool{
	"cors": true, "request-id": true, "response-rewrite": true, "prometheus": true,
}

// Compile parses a route's plugins. It returns warnings for plugins it ignores and an error for a config it
// cannot parse (the route is then unusable and answers 503). global names the plugins of p that came from
// the gateway's global_plugins rather than the route itself: a broken droppable one (see droppableGlobals)
// is left out with a warning instead of failing the route.
func Compile(p manifest.Plugins, global ...string) (*Transforms, []string, error) {
	t := &Transforms{Raw: p}
	var warns []string
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := p[name]
		var err error
		switch {
		case name == "request-id":
			t.RequestID, err = compileRequestID(raw)
		case name == "proxy-rewrite":
			t.ProxyRewrite, err = compileProxyRewrite(raw)
		case name == "response-rewrite":
			var w []string
			t.Response, w, err = compileResponseRewrite(raw)
			warns = append(warns, w...)
		case name == "cors":
			t.CORS, err = compileCORS(raw)
		case name == "ai-prompt-template":
			t.PromptTemplate, err = compilePromptTemplate(raw)
		case name == "ai-prompt-decorator":
			t.PromptDecorator, err = compilePromptDecorator(raw)
		case name == "ai-proxy" || name == "ai-proxy-multi":
			t.AIProxy = true
		case name == "prometheus":
			// FD2 exports its own per-route metrics for every route.
		case AuthPlugins[name]:
			t.Auth = append(t.Auth, name)
		case LimitPlugins[name]:
			t.Limits = append(t.Limits, name)
		case restrictive[name]:
			t.Denied = name
			warns = append(warns, fmt.Sprintf("plugin %q is not supported by FD2: the route fails closed", name))
		case ignorable[name]:
			warns = append(warns, fmt.Sprintf("plugin %q is not supported by FD2 and is ignored", name))
		default:
			warns = append(warns, fmt.Sprintf("unknown plugin %q is ignored", name))
		}
		if err != nil {
			if droppableGlobals[name] && slices.Contains(global, name) {
				t.drop(name)
				warns = append(warns, fmt.Sprintf("global plugin %q: %v; dropped, the route serves without it", name, err))
				continue
			}
			return nil, warns, fmt.Errorf("compiling plugin %q: %w", name, err)
		}
	}
	return t, warns, nil
}

// drop forgets a droppable plugin whose config failed (its compile may have returned a partial value).
func (t *Transforms) drop(name string) {
	switch name {
	case "cors":
		t.CORS = nil
	case "request-id":
		t.RequestID = nil
	case "response-rewrite":
		t.Response = nil
	}
}

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return nil
}
