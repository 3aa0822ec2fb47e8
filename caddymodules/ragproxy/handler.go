// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/rag"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_rag", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

// Handler is the `dsp_rag` handler: a static site's front for the DSP RAG service, the same as a manifest
// rag_service module (serveService). It serves the request's path as the path below a module's prefix
// (/query, /retrieve, /v1/chat/completions, …): mount it with handle_path. It is terminal.
type Handler struct {
	// Name labels the site's requests in FD2's metrics and access log when dsp_rag is its first FD2
	// stage. Default "static".
	Name string `json:"name,omitempty"`
	// Service is the rag_service config, field for field as a manifest writes it (service_url,
	// configuration_name, default_k, default_metadata_filter, request_timeout, max_retries, …).
	Service json.RawMessage `json:"service"`

	svc    *rag.Service
	proxy  *gateway.Upstream
	ttft   prometheus.Observer
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_rag", New: func() caddy.Module { return new(Handler) }}
}

// Provision decodes the service config and builds the proxy.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := fd2metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	cfg, err := rag.DecodeServiceConfig(h.Service)
	if err != nil {
		return err
	}
	site := h.Name
	if site == "" {
		site = pipeline.StaticSite
	}
	up, err := route.ServiceUpstream(site, cfg.ServiceURL, cfg.Timeout(), cfg.MaxRetries)
	if err != nil {
		return fmt.Errorf("dsp_rag: %w", err)
	}
	if h.svc, err = rag.NewService(cfg, up.BasePath); err != nil {
		return err
	}
	if h.proxy, err = gateway.UpstreamFor(ctx, up); err != nil {
		return fmt.Errorf("dsp_rag: provisioning the proxy: %w", err)
	}
	h.ttft = serviceTTFT.WithLabelValues(site, "")
	return nil
}

// ServeHTTP fronts the service.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return pipeline.Serve(h, h.Name, w, r, next, h.logger)
}

// ServeStage serves the request (pipeline.Stage).
func (h *Handler) ServeStage(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	x := pipeline.ExchangeOf(r)
	x.UpstreamBegins(time.Now()) // a static site has no dispatch stage to mark it
	return serveService(h.svc, w, r, x, r.URL.Path, h.ttft, func(w http.ResponseWriter, r *http.Request, path string) error {
		return gateway.ServeProxy(h.proxy, w, r, x, path)
	})
}

// UnmarshalCaddyfile sets up the handler. Syntax (the options are the rag_service config's):
//
//	dsp_rag <service_url> {
//		configuration          <name>                         # configuration_name
//		k                      <n>                            # default_k
//		threshold              <similarity>                   # default_similarity_threshold
//		reranking              on|off                         # use_reranking
//		filter_after_reranking on|off
//		query_expansion        <fusion|multi_query> <llm_config> [<num_queries>]
//		filter                 <JSON object>                  # default_metadata_filter
//		query_endpoint         <path>
//		retrieve_endpoint      <path>
//		timeout                <duration>                     # request_timeout
//		max_retries            <n>
//		name                   <site name>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	cfg := map[string]any{}
	var url string
	if !d.Args(&url) {
		return d.ArgErr()
	}
	cfg["service_url"] = url
	if d.NextArg() {
		return d.ArgErr()
	}
	err := caddyfileopt.Block(d, func(name string) error {
		var v string
		switch name {
		case "name":
			return caddyfileopt.Args(d, &h.Name)
		case "configuration", "query_endpoint", "retrieve_endpoint":
			if err := caddyfileopt.Args(d, &v); err != nil {
				return err
			}
			key := name
			if name == "configuration" {
				key = "configuration_name"
			}
			cfg[key] = v
		case "k", "max_retries":
			minimum := 1
			if name == "max_retries" {
				minimum = 0
			}
			n, err := caddyfileopt.Int(d, minimum)
			if err != nil {
				return err
			}
			key := name
			if name == "k" {
				key = "default_k"
			}
			cfg[key] = n
		case "threshold":
			if err := caddyfileopt.Args(d, &v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return d.Errf("threshold: want a number, got %q", v)
			}
			cfg["default_similarity_threshold"] = f
		case "reranking", "filter_after_reranking":
			on, err := caddyfileopt.OnOff(d)
			if err != nil {
				return err
			}
			key := name
			if name == "reranking" {
				key = "use_reranking"
			}
			cfg[key] = on
		case "query_expansion":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return d.ArgErr()
			}
			cfg["query_expansion_enabled"] = true
			cfg["query_expansion_strategy"] = args[0]
			cfg["query_expansion_llm_config"] = args[1]
			if len(args) == 3 {
				n, err := strconv.Atoi(args[2])
				if err != nil {
					return d.Errf("query_expansion: num_queries: want a number, got %q", args[2])
				}
				cfg["query_expansion_num_queries"] = n
			}
		case "filter":
			f, err := filterArg(d)
			if err != nil {
				return err
			}
			cfg["default_metadata_filter"] = f
		case "timeout":
			dur, err := caddyfileopt.PositiveDuration(d)
			if err != nil {
				return err
			}
			cfg["request_timeout"] = time.Duration(dur).Seconds()
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if h.Service, err = json.Marshal(cfg); err != nil {
		return d.Errf("encoding the service config: %v", err)
	}
	if _, err := rag.DecodeServiceConfig(h.Service); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

var errNoService = errors.New("dsp_rag: a service config is required")

// Validate checks that a service is configured.
func (h *Handler) Validate() error {
	if len(h.Service) == 0 {
		return errNoService
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
