// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/plugins"
)

// ServeProxy forwards a request of the exchange's route to an upstream through a pooled Caddy reverse
// proxy: path is the upstream path before the route's proxy-rewrite, which is applied here with its
// headers, as is response-rewrite on the way back. The call is timed and counted on the route's series.
func ServeProxy(proxy *reverseproxy.Handler, w http.ResponseWriter, r *http.Request, x *plan.Exchange, path string) error {
	t := x.Route.Transforms
	if pr := t.ProxyRewrite; pr != nil {
		path = pr.Path(r, path)
		pr.ApplyHeaders(r)
	}
	if path != r.URL.Path {
		r.URL.Path = path
		r.URL.RawPath = ""
	}
	if t.Response != nil {
		w = &rewriteWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, rr: t.Response}
	}
	start := time.Now()
	err := proxy.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	took := time.Since(start)
	x.Upstream += took
	observeProxied(r, x, err, took)
	return err
}

// observeProxied records a reverse-proxied call from what Caddy's reverse_proxy left in the replacer: the
// upstream's status and its time to response headers.
func observeProxied(r *http.Request, x *plan.Exchange, err error, took time.Duration) {
	status := 0
	var ttfb time.Duration
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if v, ok := repl.Get("http.reverse_proxy.status_code"); ok {
			status, _ = v.(int)
		}
		if v, ok := repl.Get("http.reverse_proxy.upstream.latency"); ok {
			ttfb, _ = v.(time.Duration)
		}
	}
	if status == 0 {
		var he caddyhttp.HandlerError
		if err != nil && errors.As(err, &he) && he.StatusCode == http.StatusGatewayTimeout {
			status = -1
		}
	} else {
		x.UpstreamStatus = status
	}
	if x.NoMetrics || (status == 0 && err == nil) {
		return // metrics off, or the proxy answered nothing and failed nothing: no upstream call
	}
	x.Route.Series.ObserveUpstream(status, ttfb, took)
}

// rewriteWriter applies response-rewrite to the response headers (and status) when they are written.
// It never buffers: writes and flushes go straight through (Flush via Unwrap).
type rewriteWriter struct {
	*caddyhttp.ResponseWriterWrapper
	rr      *plugins.ResponseRewrite
	written bool
}

func (w *rewriteWriter) WriteHeader(code int) {
	if code < 200 || w.written {
		w.ResponseWriterWrapper.WriteHeader(code)
		return
	}
	w.written = true
	w.rr.Apply(w.Header())
	if w.rr.Status != 0 {
		code = w.rr.Status
	}
	w.ResponseWriterWrapper.WriteHeader(code)
}

func (w *rewriteWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.Write(b)
}
