// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/route"
	"github.com/dsp-ai/fd2/dsp/upstream"
)

// Upstream serves a route's upstream: FD2's own proxy (dsp/upstream) for HTTP exchanges, Caddy's
// reverse_proxy for protocol upgrades (WebSocket), which must hijack the connection.
type Upstream struct {
	proxy   *upstream.Proxy
	upgrade *reverseproxy.Handler
}

// UpstreamFor provisions the proxies to a normalised APISIX upstream in ctx (closed with it).
func UpstreamFor(ctx caddy.Context, up *route.Upstream) (*Upstream, error) {
	p, err := upstream.New(upstreamConfig(up))
	if err != nil {
		return nil, err
	}
	ctx.OnCancel(p.Close)
	h, err := ProxyFor(ctx, up)
	if err != nil {
		return nil, err
	}
	return &Upstream{proxy: p, upgrade: h}, nil
}

// upstreamConfig translates an APISIX upstream into dsp/upstream's.
func upstreamConfig(up *route.Upstream) upstream.Config {
	cfg := upstream.Config{Scheme: up.Scheme, Retries: up.Retries, ConnectTimeout: up.Connect, SendTimeout: up.Send,
		ReadTimeout: up.Read}
	for _, n := range up.Nodes {
		cfg.Nodes = append(cfg.Nodes, upstream.Node{Addr: nodeAddr(up, n), Weight: n.Weight})
	}
	switch up.Type {
	case "least_conn", "ewma":
		cfg.Policy = upstream.LeastConn
	case "chash":
		cfg.Policy = upstream.IPHash
	}
	switch up.PassHost {
	case "node":
		cfg.HostMode = upstream.HostNode
	case "rewrite":
		if up.UpstreamHost != "" {
			cfg.HostMode, cfg.Host = upstream.HostRewrite, up.UpstreamHost
		}
	}
	return cfg
}

// ServeProxy forwards a request of the exchange's route to its upstream: path is the upstream path before
// the route's proxy-rewrite, which is applied here with its headers, as is response-rewrite on the way back.
// The call is timed and counted on the route's series.
//
// On a static site (no route: dsp_rag) there are no transforms and no route series to count on.
func ServeProxy(u *Upstream, w http.ResponseWriter, r *http.Request, x *plan.Exchange, path string) error {
	var series *metrics.RouteSeries
	if x.Route != nil {
		series = x.Route.Series
		t := x.Route.Transforms
		if pr := t.ProxyRewrite; pr != nil {
			path = pr.Path(r, path)
			pr.ApplyHeaders(r)
		}
		if t.Response != nil {
			w = &rewriteWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, rr: t.Response}
		}
	}
	if path != r.URL.Path {
		r.URL.Path = path
		r.URL.RawPath = ""
	}
	start := time.Now()
	if isUpgrade(r) {
		err := u.upgrade.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
		took := time.Since(start)
		x.Upstream += took
		observeProxied(r, x, series, err, took)
		return err
	}
	clientIP, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	res, err := u.proxy.Serve(w, r, clientIP)
	took := time.Since(start)
	x.Upstream += took
	status := res.Status
	if status != 0 {
		x.UpstreamStatus = status
	}
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.Status == http.StatusGatewayTimeout {
		status = -1 // a timeout: no answer
	}
	if !x.NoMetrics && series != nil && (status != 0 || err != nil) {
		series.ObserveUpstream(status, res.TTFB, took)
	}
	switch {
	case err == nil:
		return nil
	case ue != nil:
		return caddyhttp.Error(ue.Status, ue)
	default:
		// The answer broke off after it began: the client must see a broken transfer, never a clean end.
		panic(http.ErrAbortHandler)
	}
}

// isUpgrade reports whether r asks to switch protocols (Connection: upgrade with an Upgrade header).
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// observeProxied records a call of Caddy's reverse_proxy (an upgrade) from what it left in the replacer:
// the upstream's status and its time to response headers.
func observeProxied(r *http.Request, x *plan.Exchange, series *metrics.RouteSeries, err error, took time.Duration) {
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
	if x.NoMetrics || series == nil || (status == 0 && err == nil) {
		return // metrics off, or the proxy answered nothing and failed nothing: no upstream call
	}
	series.ObserveUpstream(status, ttfb, took)
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
