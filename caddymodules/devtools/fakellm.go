// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package devtools holds Caddy modules for trying FD2 out and testing it: `dsp_fakellm` serves the
// OpenAI-compatible fake provider of internal/fakellm from inside FD2, so that Caddyfile.example runs on a
// machine with nothing but Go installed. It is never needed in production.
package devtools

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

func init() {
	caddy.RegisterModule(FakeLLM{})
	httpcaddyfile.RegisterHandlerDirective("dsp_fakellm", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(FakeLLM)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// FakeLLM is the `dsp_fakellm` handler: a deterministic OpenAI-compatible provider (chat completions with
// streaming, completions, embeddings, models, /echo) that also answers Anthropic's /v1/messages and
// Gemini's /v1beta generateContent. It is terminal: it never calls the next handler.
type FakeLLM struct {
	// TokenDelay is the pause between streamed chunks. Default 0.
	TokenDelay caddy.Duration `json:"token_delay,omitempty"`
	// Latency is the pause before the first byte. Default 0.
	Latency caddy.Duration `json:"latency,omitempty"`

	h http.Handler
}

// CaddyModule returns the Caddy module information.
func (FakeLLM) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_fakellm", New: func() caddy.Module { return new(FakeLLM) }}
}

// Provision builds the fake provider.
func (f *FakeLLM) Provision(caddy.Context) error {
	f.h = fakellm.New(fakellm.Options{TokenDelay: time.Duration(f.TokenDelay), Latency: time.Duration(f.Latency)})
	return nil
}

// ServeHTTP serves the fake provider.
func (f *FakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	f.h.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_fakellm {
//		token_delay <duration>
//		latency     <duration>
//	}
func (f *FakeLLM) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		var err error
		switch name {
		case "token_delay":
			f.TokenDelay, err = caddyfileopt.Duration(d)
		case "latency":
			f.Latency, err = caddyfileopt.Duration(d)
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return err
	})
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*FakeLLM)(nil)
	_ caddyhttp.MiddlewareHandler = (*FakeLLM)(nil)
	_ caddyfile.Unmarshaler       = (*FakeLLM)(nil)
)
