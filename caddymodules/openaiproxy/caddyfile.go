// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("dsp_openai", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_openai {
//		provider <name> openai|azure|anthropic|gemini|mock {
//			base_url <url>
//			api_key  <key>
//			auth_header <header>        # openai
//			auth_query  <param>         # openai
//			header <name> <value>       # openai
//			api_version <v>             # azure
//			deployment <model> <name>   # azure
//			version <v>                 # anthropic
//			default_max_tokens <n>      # anthropic
//			text <text>  latency <d>  token_delay <d>  tokens <n>  failure_rate <f>  fail_status <code>   # mock
//			first_byte_timeout <d>
//			idle_timeout <d>
//		}
//		model <alias> <provider>[:<model>] [<provider>[:<model>] ...]
//		model <alias> {
//			target <provider> [<model>] [weight <n>] [priority <n>]
//			fallback <alias...>
//		}
//		max_attempts <n>
//		max_body_size <size>
//		breaker_open_for <d>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	h.ProvidersRaw = map[string]json.RawMessage{}
	return caddyfileopt.Directive(d, func(name string) error {
		var err error
		switch name {
		case "provider":
			var pname, kind string
			if !d.Args(&pname, &kind) {
				return d.ArgErr()
			}
			if _, dup := h.ProvidersRaw[pname]; dup {
				return d.Errf("provider %q defined twice", pname)
			}
			mod, err := parseProvider(d, kind)
			if err != nil {
				return err
			}
			h.ProvidersRaw[pname] = caddyconfig.JSONModuleObject(mod, "provider", kind, nil)
		case "model":
			m, err := parseModel(d)
			if err != nil {
				return err
			}
			h.Models = append(h.Models, m)
		case "max_attempts":
			h.MaxAttempts, err = caddyfileopt.Int(d, 1)
		case "max_body_size":
			h.MaxBodySize, err = caddyfileopt.Size(d)
		case "breaker_open_for":
			h.BreakerOpenFor, err = caddyfileopt.PositiveDuration(d)
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return err
	}, "provider", "model")
}

// durArg and intArg read the provider options (parseProvider).
func durArg(d *caddyfile.Dispenser) (caddy.Duration, error) { return caddyfileopt.Duration(d) }

func intArg(d *caddyfile.Dispenser) (int, error) { return caddyfileopt.Int(d, 0) }

func parseProvider(d *caddyfile.Dispenser, kind string) (caddy.Module, error) {
	var (
		oa  OpenAIProvider
		az  AzureProvider
		an  AnthropicProvider
		ge  GeminiProvider
		mk  MockProvider
		mod caddy.Module
	)
	switch kind {
	case "openai":
		mod = &oa
	case "azure":
		mod = &az
	case "anthropic":
		mod = &an
	case "gemini":
		mod = &ge
	case "mock":
		mod = &mk
	default:
		return nil, d.Errf("provider kind %q is not openai, azure, anthropic, gemini or mock", kind)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		str := func(dst *string) {
			if !d.AllArgs(dst) {
				err = d.ArgErr()
			}
		}
		switch {
		case opt == "base_url":
			switch kind {
			case "openai":
				str(&oa.BaseURL)
			case "azure":
				str(&az.BaseURL)
			case "anthropic":
				str(&an.BaseURL)
			case "gemini":
				str(&ge.BaseURL)
			default:
				return nil, d.Errf("mock has no base_url")
			}
		case opt == "api_key":
			switch kind {
			case "openai":
				str(&oa.APIKey)
			case "azure":
				str(&az.APIKey)
			case "anthropic":
				str(&an.APIKey)
			case "gemini":
				str(&ge.APIKey)
			default:
				return nil, d.Errf("mock has no api_key")
			}
		case opt == "auth_header" && kind == "openai":
			str(&oa.AuthHeader)
		case opt == "auth_query" && kind == "openai":
			str(&oa.AuthQuery)
		case opt == "header" && kind == "openai":
			var k, v string
			if !d.Args(&k, &v) || d.NextArg() {
				return nil, d.ArgErr()
			}
			if oa.Headers == nil {
				oa.Headers = map[string]string{}
			}
			oa.Headers[k] = v
		case opt == "api_version" && kind == "azure":
			str(&az.APIVersion)
		case opt == "deployment" && kind == "azure":
			var m, dep string
			if !d.Args(&m, &dep) || d.NextArg() {
				return nil, d.ArgErr()
			}
			if az.Deployments == nil {
				az.Deployments = map[string]string{}
			}
			az.Deployments[m] = dep
		case opt == "version" && kind == "anthropic":
			str(&an.Version)
		case opt == "default_max_tokens" && kind == "anthropic":
			an.DefaultMaxTokens, err = intArg(d)
		case opt == "text" && kind == "mock":
			str(&mk.Text)
		case opt == "latency" && kind == "mock":
			mk.Latency, err = durArg(d)
		case opt == "token_delay" && kind == "mock":
			mk.TokenDelay, err = durArg(d)
		case opt == "tokens" && kind == "mock":
			mk.Tokens, err = intArg(d)
		case opt == "fail_status" && kind == "mock":
			mk.FailStatus, err = intArg(d)
		case opt == "failure_rate" && kind == "mock":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			mk.FailureRate, err = strconv.ParseFloat(s, 64)
		case opt == "first_byte_timeout" || opt == "idle_timeout":
			var dur caddy.Duration
			dur, err = durArg(d)
			switch {
			case kind == "openai" && opt == "first_byte_timeout":
				oa.FirstByteTimeout = dur
			case kind == "openai":
				oa.IdleTimeout = dur
			case kind == "azure" && opt == "first_byte_timeout":
				az.FirstByteTimeout = dur
			case kind == "azure":
				az.IdleTimeout = dur
			case kind == "anthropic" && opt == "first_byte_timeout":
				an.FirstByteTimeout = dur
			case kind == "gemini" && opt == "first_byte_timeout":
				ge.FirstByteTimeout = dur
			default:
				return nil, d.Errf("%s: %s is not supported", kind, opt)
			}
		default:
			return nil, d.Errf("provider %s: unrecognized option %q", kind, opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return mod, nil
}

func parseModel(d *caddyfile.Dispenser) (ModelRoute, error) {
	var m ModelRoute
	if !d.NextArg() {
		return m, d.ArgErr()
	}
	m.Alias = d.Val()
	for _, t := range d.RemainingArgs() {
		p, model, _ := strings.Cut(t, ":")
		m.Targets = append(m.Targets, Target{Provider: p, Model: model})
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "target":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return m, d.ArgErr()
			}
			t := Target{Provider: args[0]}
			rest := args[1:]
			if len(rest)%2 == 1 {
				t.Model, rest = rest[0], rest[1:]
			}
			for i := 0; i < len(rest); i += 2 {
				n, err := strconv.Atoi(rest[i+1])
				if err != nil {
					return m, d.Errf("target %s: %s must be a number", t.Provider, rest[i])
				}
				switch rest[i] {
				case "weight":
					t.Weight = n
				case "priority":
					t.Priority = n
				default:
					return m, d.Errf("target %s: unknown option %q", t.Provider, rest[i])
				}
			}
			m.Targets = append(m.Targets, t)
		case "fallback":
			m.Fallbacks = append(m.Fallbacks, d.RemainingArgs()...)
		default:
			return m, d.Errf("model %s: unrecognized option %q", m.Alias, d.Val())
		}
	}
	if len(m.Targets) == 0 {
		return m, d.Errf("model %s: at least one target is required", m.Alias)
	}
	return m, nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
