// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package devtools

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/internal/ragservice"
)

func init() {
	caddy.RegisterModule(RAGService{})
	httpcaddyfile.RegisterHandlerDirective("dsp_ragservice", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(RAGService)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// RAGService is the `dsp_ragservice` handler: the test double of the DSP RAG service (dsp_ai_rag2) and of
// its model server from internal/ragservice, with the demo-kb configuration, so that a RAG module of the
// demo manifest has a backend on a machine with nothing but Go. It serves the RAG2 API under /api/v1, its
// OpenAI-compatible /v1/chat/completions and /v1/models, and the model server under /api/v1/models and
// /health. It is terminal: it never calls the next handler. Its documents live in memory and are lost on a
// config reload.
type RAGService struct {
	// WordDelay is the pause after each streamed word. Default 0.
	WordDelay caddy.Duration `json:"word_delay,omitempty"`
	// GenerationDelay is the simulated LLM latency before an answer exists (and before the first streamed
	// byte). Unset means ragservice.DefaultGenerationDelay (30ms); 0 means none.
	GenerationDelay *caddy.Duration `json:"generation_delay,omitempty"`

	h http.Handler
}

// CaddyModule returns the Caddy module information.
func (RAGService) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_ragservice", New: func() caddy.Module { return new(RAGService) }}
}

// Provision builds the double.
func (r *RAGService) Provision(caddy.Context) error {
	opts := ragservice.Options{WordDelay: time.Duration(r.WordDelay)}
	if r.GenerationDelay != nil {
		opts.GenerationDelay = time.Duration(*r.GenerationDelay)
		if opts.GenerationDelay == 0 {
			// ragservice reads zero as its default; a negative delay is its "none".
			opts.GenerationDelay = -1
		}
	}
	r.h = ragservice.New(opts)
	return nil
}

// ServeHTTP serves the double.
func (r *RAGService) ServeHTTP(w http.ResponseWriter, req *http.Request, _ caddyhttp.Handler) error {
	r.h.ServeHTTP(w, req)
	return nil
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_ragservice {
//		word_delay       <duration>
//		generation_delay <duration>
//	}
func (r *RAGService) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		switch name {
		case "word_delay":
			v, err := caddyfileopt.Duration(d)
			r.WordDelay = v
			return err
		case "generation_delay":
			v, err := caddyfileopt.Duration(d)
			r.GenerationDelay = &v
			return err
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	})
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*RAGService)(nil)
	_ caddyhttp.MiddlewareHandler = (*RAGService)(nil)
	_ caddyfile.Unmarshaler       = (*RAGService)(nil)
)
