// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
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
//			<options of the provider type: see each dsp.providers module's UnmarshalCaddyfile>
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
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	h.ProvidersRaw = map[string]json.RawMessage{}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		switch d.Val() {
		case "provider":
			var name, kind string
			if !d.Args(&name, &kind) {
				return d.ArgErr()
			}
			if _, dup := h.ProvidersRaw[name]; dup {
				return d.Errf("provider %q defined twice", name)
			}
			id := "dsp.providers." + kind
			if _, err := caddy.GetModule(id); err != nil {
				return d.Errf("provider %s: type %q is not one of %s", name, kind, strings.Join(providerTypes(), ", "))
			}
			mod, err := caddyfile.UnmarshalModule(d, id)
			if err != nil {
				return err
			}
			h.ProvidersRaw[name] = caddyconfig.JSONModuleObject(mod, "provider", kind, nil)
		case "model":
			m, err := parseModel(d)
			if err != nil {
				return err
			}
			h.Models = append(h.Models, m)
		case "max_attempts", "max_body_size", "breaker_open_for":
			name := d.Val()
			if seen[name] {
				return d.Errf("duplicate subdirective %q", name)
			}
			seen[name] = true
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			switch name {
			case "max_attempts":
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					return d.Errf("max_attempts: invalid %q", v)
				}
				h.MaxAttempts = n
			case "max_body_size":
				n, err := humanize.ParseBytes(v)
				if err != nil || n == 0 {
					return d.Errf("max_body_size: invalid %q", v)
				}
				h.MaxBodySize = int64(n)
			default:
				dur, err := caddy.ParseDuration(v)
				if err != nil || dur <= 0 {
					return d.Errf("breaker_open_for: invalid %q", v)
				}
				h.BreakerOpenFor = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the provider from its block in dsp_openai. Syntax:
//
//	provider <name> openai {
//		base_url    <url>
//		api_key     <key>
//		auth_header <header>
//		auth_query  <param>
//		header      <name> <value>
//		first_byte_timeout <d>
//		idle_timeout       <d>
//	}
func (p *OpenAIProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return providerOptions(d, "openai", func(opt string) error {
		switch opt {
		case "base_url":
			return stringArg(d, &p.BaseURL)
		case "api_key":
			return stringArg(d, &p.APIKey)
		case "auth_header":
			return stringArg(d, &p.AuthHeader)
		case "auth_query":
			return stringArg(d, &p.AuthQuery)
		case "header":
			return keyedArg(d, &p.Headers)
		case "first_byte_timeout":
			return durationArg(d, &p.FirstByteTimeout)
		case "idle_timeout":
			return durationArg(d, &p.IdleTimeout)
		}
		return errUnknownOption
	})
}

// UnmarshalCaddyfile sets up the provider from its block in dsp_openai. Syntax:
//
//	provider <name> azure {
//		base_url    <url>
//		api_key     <key>
//		api_version <v>
//		deployment  <model> <deployment>
//		first_byte_timeout <d>
//		idle_timeout       <d>
//	}
func (p *AzureProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return providerOptions(d, "azure", func(opt string) error {
		switch opt {
		case "base_url":
			return stringArg(d, &p.BaseURL)
		case "api_key":
			return stringArg(d, &p.APIKey)
		case "api_version":
			return stringArg(d, &p.APIVersion)
		case "deployment":
			return keyedArg(d, &p.Deployments)
		case "first_byte_timeout":
			return durationArg(d, &p.FirstByteTimeout)
		case "idle_timeout":
			return durationArg(d, &p.IdleTimeout)
		}
		return errUnknownOption
	})
}

// UnmarshalCaddyfile sets up the provider from its block in dsp_openai. Syntax:
//
//	provider <name> anthropic {
//		base_url <url>
//		api_key  <key>
//		version  <v>
//		default_max_tokens <n>
//		first_byte_timeout <d>
//	}
func (p *AnthropicProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return providerOptions(d, "anthropic", func(opt string) error {
		switch opt {
		case "base_url":
			return stringArg(d, &p.BaseURL)
		case "api_key":
			return stringArg(d, &p.APIKey)
		case "version":
			return stringArg(d, &p.Version)
		case "default_max_tokens":
			return intArg(d, &p.DefaultMaxTokens)
		case "first_byte_timeout":
			return durationArg(d, &p.FirstByteTimeout)
		}
		return errUnknownOption
	})
}

// UnmarshalCaddyfile sets up the provider from its block in dsp_openai. Syntax:
//
//	provider <name> gemini {
//		base_url <url>
//		api_key  <key>
//		first_byte_timeout <d>
//	}
func (p *GeminiProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return providerOptions(d, "gemini", func(opt string) error {
		switch opt {
		case "base_url":
			return stringArg(d, &p.BaseURL)
		case "api_key":
			return stringArg(d, &p.APIKey)
		case "first_byte_timeout":
			return durationArg(d, &p.FirstByteTimeout)
		}
		return errUnknownOption
	})
}

// UnmarshalCaddyfile sets up the provider from its block in dsp_openai. Syntax:
//
//	provider <name> mock {
//		text         <text>
//		latency      <d>
//		token_delay  <d>
//		tokens       <n>
//		failure_rate <0..1>
//		fail_status  <code>
//	}
func (p *MockProvider) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return providerOptions(d, "mock", func(opt string) error {
		switch opt {
		case "text":
			return stringArg(d, &p.Text)
		case "latency":
			return durationArg(d, &p.Latency)
		case "token_delay":
			return durationArg(d, &p.TokenDelay)
		case "tokens":
			return intArg(d, &p.Tokens)
		case "fail_status":
			return intArg(d, &p.FailStatus)
		case "failure_rate":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return d.Errf("failure_rate: invalid number %q", s)
			}
			p.FailureRate = f
			return nil
		}
		return errUnknownOption
	})
}

// errUnknownOption is what a provider's option callback returns for an option it does not have.
var errUnknownOption = errors.New("unknown option")

// providerOptions parses the block of the provider segment d (`<type> { … }`, as caddyfile.UnmarshalModule
// hands it over), calling fn once per option with the dispenser on the option's name. An option may be
// given once, except the keyed ones (header, deployment), whose keys keyedArg keeps unique.
func providerOptions(d *caddyfile.Dispenser, kind string, fn func(opt string) error) error {
	d.Next() // the provider type
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if seen[opt] && opt != "header" && opt != "deployment" {
			return d.Errf("provider %s: duplicate option %q", kind, opt)
		}
		seen[opt] = true
		if err := fn(opt); err != nil {
			if errors.Is(err, errUnknownOption) {
				return d.Errf("provider %s: unrecognized option %q", kind, opt)
			}
			return err
		}
	}
	return nil
}

func stringArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	opt := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 {
		return d.Errf("%s: invalid duration %q", opt, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func intArg(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("%s: invalid number %q", opt, s)
	}
	*dst = n
	return nil
}

// keyedArg reads `<key> <value>` into *dst, refusing a key given twice.
func keyedArg(d *caddyfile.Dispenser, dst *map[string]string) error {
	opt := d.Val()
	var k, v string
	if !d.AllArgs(&k, &v) {
		return d.ArgErr()
	}
	if _, dup := (*dst)[k]; dup {
		return d.Errf("%s %q given twice", opt, k)
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	(*dst)[k] = v
	return nil
}

// providerTypes are the registered `dsp.providers` module names: the catalog's types, and any a
// plugin adds.
func providerTypes() []string {
	var out []string
	for _, m := range caddy.GetModules("dsp.providers") {
		out = append(out, m.ID.Name())
	}
	return out
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
