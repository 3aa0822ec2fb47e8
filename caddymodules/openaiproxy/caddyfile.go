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

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/ragproxy"
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
//		name <site label>
//		provider <name> openai|azure|anthropic|gemini|mock {
//			<options of the provider type: see each dsp.providers module's UnmarshalCaddyfile>
//		}
//		provider <type> { … }              # named after its type
//		provider <name> { type <type> … }
//		model <alias> <provider>[:<model>] [<provider>[:<model>] ...]
//		model <alias> {
//			target <provider> [<model>] [weight <n>] [priority <n>]
//			fallback <alias...>
//		}
//		default_provider <provider>
//		max_attempts <n>
//		max_body_size <size>
//		breaker_open_for <d>
//		retrieval {                         # retrieval-augmented chat: see ragproxy.Retrieval
//			rag <RAG service URL>
//			configuration <name>
//			…
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	h.ProvidersRaw = map[string]json.RawMessage{}
	return caddyfileopt.Directive(d, func(name string) error {
		var err error
		switch name {
		case "name":
			return caddyfileopt.Args(d, &h.Name)
		case "provider":
			pname, kind, block, err := providerHead(d)
			if err != nil {
				return err
			}
			if _, dup := h.ProvidersRaw[pname]; dup {
				return d.Errf("provider %q defined twice", pname)
			}
			id := "dsp.providers." + kind
			if _, err := caddy.GetModule(id); err != nil {
				return d.Errf("provider %s: type %q is not one of %s", pname, kind, strings.Join(providerTypes(), ", "))
			}
			var mod caddyfile.Unmarshaler
			if block == nil {
				mod, err = caddyfile.UnmarshalModule(d, id)
			} else {
				mod, err = caddyfile.UnmarshalModule(block, id)
			}
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
		case "default_provider":
			err = caddyfileopt.Args(d, &h.DefaultProvider)
		case "max_attempts":
			h.MaxAttempts, err = caddyfileopt.Int(d, 1)
		case "max_body_size":
			h.MaxBodySize, err = caddyfileopt.Size(d)
		case "breaker_open_for":
			h.BreakerOpenFor, err = caddyfileopt.PositiveDuration(d)
		case "retrieval":
			h.Retrieval = new(ragproxy.Retrieval)
			err = h.Retrieval.UnmarshalCaddyfile(d)
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return err
	}, "provider", "model")
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
			return caddyfileopt.Args(d, &p.BaseURL)
		case "api_key":
			return caddyfileopt.Args(d, &p.APIKey)
		case "auth_header":
			return caddyfileopt.Args(d, &p.AuthHeader)
		case "auth_query":
			return caddyfileopt.Args(d, &p.AuthQuery)
		case "header":
			return keyedArg(d, &p.Headers)
		case "first_byte_timeout":
			return setDuration(d, &p.FirstByteTimeout)
		case "idle_timeout":
			return setDuration(d, &p.IdleTimeout)
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
			return caddyfileopt.Args(d, &p.BaseURL)
		case "api_key":
			return caddyfileopt.Args(d, &p.APIKey)
		case "api_version":
			return caddyfileopt.Args(d, &p.APIVersion)
		case "deployment":
			return keyedArg(d, &p.Deployments)
		case "first_byte_timeout":
			return setDuration(d, &p.FirstByteTimeout)
		case "idle_timeout":
			return setDuration(d, &p.IdleTimeout)
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
			return caddyfileopt.Args(d, &p.BaseURL)
		case "api_key":
			return caddyfileopt.Args(d, &p.APIKey)
		case "version":
			return caddyfileopt.Args(d, &p.Version)
		case "default_max_tokens":
			return setInt(d, &p.DefaultMaxTokens)
		case "first_byte_timeout":
			return setDuration(d, &p.FirstByteTimeout)
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
			return caddyfileopt.Args(d, &p.BaseURL)
		case "api_key":
			return caddyfileopt.Args(d, &p.APIKey)
		case "first_byte_timeout":
			return setDuration(d, &p.FirstByteTimeout)
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
			return caddyfileopt.Args(d, &p.Text)
		case "latency":
			return setDuration(d, &p.Latency)
		case "token_delay":
			return setDuration(d, &p.TokenDelay)
		case "tokens":
			return setInt(d, &p.Tokens)
		case "fail_status":
			return setInt(d, &p.FailStatus)
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
// given once, but header and deployment, which take a key.
func providerOptions(d *caddyfile.Dispenser, kind string, fn func(opt string) error) error {
	d.Next() // the provider type (or name, when the type is in the block)
	if d.NextArg() {
		return d.ArgErr()
	}
	return caddyfileopt.Block(d, func(opt string) error {
		if opt == "type" { // `provider <name> { type <type> … }`: providerHead has read it
			var t string
			if err := caddyfileopt.Args(d, &t); err != nil {
				return err
			}
			if t != kind {
				return d.Errf("provider: type %q given twice differently (%s)", t, kind)
			}
			return nil
		}
		err := fn(opt)
		if errors.Is(err, errUnknownOption) {
			return d.Errf("provider %s: unrecognized option %q", kind, opt)
		}
		return err
	}, "header", "deployment")
}

// setDuration and setInt store a caddyfileopt value in a provider field.
func setDuration(d *caddyfile.Dispenser, dst *caddy.Duration) (err error) {
	*dst, err = caddyfileopt.Duration(d)
	return err
}

func setInt(d *caddyfile.Dispenser, dst *int) (err error) {
	*dst, err = caddyfileopt.Int(d, 0)
	return err
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
// providerHead reads a provider's head in any of its forms: `provider <name> <type> { … }`, `provider
// <type> { … }` (named after its type) and `provider <name> { type <type> … }`. For the last, the type is
// found in the block, which is returned as its own dispenser (d has moved past it); otherwise block is nil
// and d's cursor is on the token before the block, where the provider module expects it.
func providerHead(d *caddyfile.Dispenser) (name, kind string, block *caddyfile.Dispenser, err error) {
	args := d.RemainingArgs()
	switch len(args) {
	case 2:
		return args[0], args[1], nil, nil
	case 1:
	default:
		return "", "", nil, d.ArgErr()
	}
	name = args[0]
	if _, err := caddy.GetModule("dsp.providers." + name); err == nil {
		return name, name, nil, nil
	}
	block = d.NewFromNextSegment()
	for depth, line := 0, -1; block.Next(); line = block.Line() {
		switch v := block.Val(); {
		case v == "{":
			depth++
		case v == "}":
			depth--
		case depth == 1 && v == "type" && block.Line() != line && block.NextArg(): // an option, not an argument
			kind = block.Val()
		}
	}
	if kind == "" {
		return "", "", nil, d.Errf("provider %s: give its type, as `provider %s <type> { … }` or a `type <type>` line in its block (one of %s)",
			name, name, strings.Join(providerTypes(), ", "))
	}
	block.Reset()
	block.Next() // the block's dispenser starts at the provider's name
	return name, kind, block, nil
}

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
