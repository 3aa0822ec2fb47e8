// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/route"
)

// Pool keeps compiled projects with their provisioned upstream proxies, keyed by project id + manifest
// hash, bounded by size (LRU).
//
// Concurrency contract: lookups are lock-free (an immutable map behind an atomic pointer; writers copy it
// under mu). Every pooled project is reference-counted: the pool holds one reference and each request
// holds one from Acquire to Release. Eviction only drops the pool's reference; the project's Caddy context
// is cancelled (running every proxy's Cleanup) when the last reference goes, so eviction never cuts a
// running request or stream.
type Pool struct {
	size   int
	base   caddy.Context
	logger *zap.Logger

	mu     sync.Mutex
	m      atomic.Pointer[map[string]*Pooled]
	closed bool
	clock  atomic.Int64
	group  map[string]*buildCall
}

type buildCall struct {
	done chan struct{}
	p    *Pooled
	err  error
}

// Pooled is a project version in the pool with everything that serves its routes: the reverse proxies of
// its explicit routes, the inference engines of its ai-proxy routes and its built modules.
type Pooled struct {
	Project *plan.Project
	key     string
	refs    atomic.Int64
	used    atomic.Int64
	cancel  func()
	ctx     caddy.Context
	targets map[*route.Route]*Upstream
	ai      map[*route.Route]plan.Module
	modules map[string]pooledModule
	logger  *zap.Logger
}

// pooledModule is a built module, or why it could not be built.
type pooledModule struct {
	m   plan.Module
	err error
}

// NewPool returns a pool whose project contexts derive from ctx.
func NewPool(ctx caddy.Context, size int, logger *zap.Logger) *Pool {
	// Project contexts hang off an intermediate context instead of ctx itself: cancelling a context made
	// by caddy.NewContext also runs its *parent's* OnCancel callbacks (caddy v2.11 context.go), and the
	// config's root context has callbacks that close the log writers. The intermediate context has none.
	// Its cancel func is deliberately never called (that would run the root's callbacks); it is cancelled
	// with the root context when the config unloads.
	base, _ := caddy.NewContext(ctx)
	p := &Pool{size: size, base: base, logger: logger, group: map[string]*buildCall{}}
	empty := map[string]*Pooled{}
	p.m.Store(&empty)
	return p
}

// Acquire returns the pooled project for proj, building it on first use. The caller must Release it.
func (p *Pool) Acquire(proj *plan.Project) (*Pooled, error) {
	key := proj.ID + "@" + proj.Hash
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		// A request that reached this config just as it unloads (a reload) is still served: it gets a
		// project of its own, whose only reference is the caller's, cleaned up when it releases it.
		return p.provision(key, proj)
	}
	for {
		if pp := (*p.m.Load())[key]; pp != nil {
			if pp.tryRef() {
				pp.used.Store(p.clock.Add(1))
				return pp, nil
			}
			// being evicted concurrently: fall through to rebuild
		}
		pp, err := p.build(key, proj)
		if err != nil {
			return nil, err
		}
		if pp.tryRef() {
			pp.used.Store(p.clock.Add(1))
			return pp, nil
		}
	}
}

// build provisions a project once per key, even when many requests miss at once.
func (p *Pool) build(key string, proj *plan.Project) (*Pooled, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.provision(key, proj) // Acquire's tryRef adds the caller's reference to this one
	}
	if pp := (*p.m.Load())[key]; pp != nil && pp.refs.Load() > 0 {
		p.mu.Unlock()
		return pp, nil
	}
	if c, ok := p.group[key]; ok {
		p.mu.Unlock()
		<-c.done
		return c.p, c.err
	}
	c := &buildCall{done: make(chan struct{})}
	p.group[key] = c
	p.mu.Unlock()

	start := time.Now()
	c.p, c.err = p.provision(key, proj)
	metrics.ModuleLoad.WithLabelValues("project").Observe(time.Since(start).Seconds())

	p.mu.Lock()
	delete(p.group, key)
	if c.err == nil {
		if p.closed {
			// Unloaded while building (a rare race with a reload): serve the waiting requests from the
			// unpooled project. Its context is a child of the unloading config's, so its goroutines end
			// with it; only its idle upstream connections outlive it until their idle timeout.
			p.mu.Unlock()
			close(c.done)
			return c.p, nil
		}
		old := *p.m.Load()
		next := make(map[string]*Pooled, len(old)+1)
		for k, v := range old {
			next[k] = v
		}
		next[key] = c.p
		// Older versions of the same project will never be asked for again: drop them now.
		prefix := proj.ID + "@"
		var evicted []*Pooled
		for k, v := range next {
			if k != key && strings.HasPrefix(k, prefix) {
				delete(next, k)
				evicted = append(evicted, v)
			}
		}
		for len(next) > p.size {
			var lk string
			var lv *Pooled
			for k, v := range next {
				if k != key && (lv == nil || v.used.Load() < lv.used.Load()) {
					lk, lv = k, v
				}
			}
			if lv == nil {
				break
			}
			delete(next, lk)
			evicted = append(evicted, lv)
		}
		p.m.Store(&next)
		metrics.PoolProjects.Set(float64(len(next)))
		p.mu.Unlock()
		for _, v := range evicted {
			metrics.PoolEvictions.Inc()
			v.release()
		}
	} else {
		p.mu.Unlock()
	}
	close(c.done)
	return c.p, c.err
}

// Len is the number of pooled projects.
func (p *Pool) Len() int { return len(*p.m.Load()) }

// InFlight is the number of requests holding pooled projects.
func (p *Pool) InFlight() int64 {
	var n int64
	for _, v := range *p.m.Load() {
		n += v.refs.Load() - 1
	}
	return n
}

// Size is the configured bound.
func (p *Pool) Size() int { return p.size }

// Close drops every project; each is cleaned up when its last request finishes.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	old := *p.m.Load()
	empty := map[string]*Pooled{}
	p.m.Store(&empty)
	p.mu.Unlock()
	for _, v := range old {
		v.release()
	}
}

func (pp *Pooled) tryRef() bool {
	for {
		n := pp.refs.Load()
		if n <= 0 {
			return false
		}
		if pp.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Closed reports whether the project's context was cancelled (its proxies cleaned up).
func (pp *Pooled) Closed() bool { return pp.ctx.Err() != nil }

// Release returns a reference taken by Acquire.
func (pp *Pooled) Release() { pp.release() }

func (pp *Pooled) release() {
	if pp.refs.Add(-1) == 0 {
		pp.cancel()
		pp.logger.Debug("project released", zap.String("project", pp.key))
	}
}

// Target returns the provisioned proxy of an upstream route, or nil.
func (pp *Pooled) Target(rt *route.Route) *Upstream { return pp.targets[rt] }

// AIProxy returns what serves an ai-proxy route, or nil.
func (pp *Pooled) AIProxy(rt *route.Route) plan.Module { return pp.ai[rt] }

// Module returns the built module of a name, or why it could not be built.
func (pp *Pooled) Module(name string) (plan.Module, error) {
	pm, ok := pp.modules[name]
	if !ok {
		return nil, fmt.Errorf("module %q is not served by this project version", name)
	}
	return pm.m, pm.err
}

// moduleHealth checks the built modules of every pooled project version, concurrently, each within
// probeTimeout. Modules without a health check that were built are left out.
func (p *Pool) moduleHealth(ctx context.Context, logger *zap.Logger) []moduleReport {
	out := []moduleReport{}         // "modules": [] rather than null for a project without any
	var checks []plan.HealthChecker // by index in out; nil: nothing to probe
	for _, pp := range *p.m.Load() {
		for _, name := range pp.Project.ModuleOrder {
			pm, ok := pp.modules[name]
			hc, _ := pm.m.(plan.HealthChecker)
			// A module the version's compile refused (an unserved type, a bad config) is a manifest warning,
			// not a health problem: the Control Tower knows more types than one build serves.
			if !ok || pp.Project.Modules[name].Err != nil || (pm.err == nil && hc == nil) {
				continue
			}
			rep := moduleReport{Project: pp.Project.ID, Module: name, Type: pp.Project.Modules[name].Type(), State: "ok"}
			if pm.err != nil {
				rep.State, hc = "unavailable", nil
			}
			out = append(out, rep)
			checks = append(checks, hc)
		}
	}
	var probes []func()
	for i, hc := range checks {
		if hc == nil {
			continue
		}
		probes = append(probes, func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if err := hc.Health(pctx); err != nil {
				out[i].State = "unhealthy"
				logger.Warn("module health check failed", zap.String("project", out[i].Project),
					zap.String("module", out[i].Module), zap.Error(err))
			}
		})
	}
	runAll(probes)
	return out
}

// provisionMu serialises proxy provisioning across pools. Caddy provisions modules from one goroutine at a
// time (config loads are serialised), and reverse_proxy's Provision writes package-level state
// (its upstream-health metrics and their logger) without a lock; FD2 provisions lazily from request
// goroutines, so it must serialise them itself. Provisioning is rare (once per project version) and off
// the warm path.
var provisionMu sync.Mutex

func (p *Pool) provision(key string, proj *plan.Project) (*Pooled, error) {
	provisionMu.Lock()
	defer provisionMu.Unlock()
	ctx, cancel := caddy.NewContext(p.base)
	pp := &Pooled{Project: proj, key: key, cancel: cancel, ctx: ctx, logger: p.logger,
		targets: make(map[*route.Route]*Upstream), ai: make(map[*route.Route]plan.Module),
		modules: make(map[string]pooledModule, len(proj.ModuleOrder))}
	pp.refs.Store(1)
	for _, rt := range proj.Table.Routes() {
		pr := proj.Routes[rt]
		if pr == nil || pr.Err != nil {
			continue
		}
		switch pr.Target.Kind {
		case plan.TargetProxy:
			if rt.Upstream == nil || len(rt.Upstream.Nodes) == 0 {
				continue
			}
			h, err := UpstreamFor(ctx, rt.Upstream)
			if err != nil {
				cancel()
				return nil, fmt.Errorf("provisioning upstream of route %s: %w", rt.ID, err)
			}
			pp.targets[rt] = h
		case plan.TargetAIProxy:
			if aiProxy == nil {
				cancel()
				return nil, errNoAIProxy
			}
			m, err := aiProxy.Build(ctx, proj.ID, rt.ID, pr.Transforms.Raw)
			if err != nil {
				cancel()
				return nil, fmt.Errorf("building the ai-proxy of route %s: %w", rt.ID, err)
			}
			pp.ai[rt] = m
		}
	}
	// A module that fails to build fails its own routes (503 module_unavailable), not the project's others.
	for _, name := range proj.ModuleOrder {
		spec := proj.Modules[name]
		if spec.Err != nil {
			pp.modules[name] = pooledModule{err: spec.Err}
			continue
		}
		start := time.Now()
		m, err := buildModule(ctx, spec)
		metrics.ModuleLoad.WithLabelValues(spec.Type()).Observe(time.Since(start).Seconds())
		if err != nil {
			err = fmt.Errorf("building module %q (%s): %w", name, spec.Type(), err)
			p.logger.Error("module unavailable", zap.String("project", proj.ID), zap.Error(err))
		}
		pp.modules[name] = pooledModule{m: m, err: err}
	}
	return pp, nil
}

// ProxyFor provisions a Caddy reverse proxy to a normalised APISIX upstream in ctx (cleaned up with it).
func ProxyFor(ctx caddy.Context, up *route.Upstream) (*reverseproxy.Handler, error) {
	raw, err := proxyConfig(up)
	if err != nil {
		return nil, err
	}
	mod, err := ctx.LoadModuleByID("http.handlers.reverse_proxy", raw)
	if err != nil {
		return nil, err
	}
	return mod.(*reverseproxy.Handler), nil
}

// nodeAddr is a node's host:port, the port defaulting to the scheme's.
func nodeAddr(up *route.Upstream, n manifest.Node) string {
	port := n.Port
	if port == 0 {
		port = 443
		if up.Scheme == "http" {
			port = 80
		}
	}
	return net.JoinHostPort(n.Host, strconv.Itoa(port))
}

// proxyConfig translates an APISIX upstream into Caddy reverse_proxy JSON.
func proxyConfig(up *route.Upstream) (json.RawMessage, error) {
	type dial struct {
		Dial string `json:"dial"`
	}
	cfg := map[string]any{}
	ups := make([]dial, 0, len(up.Nodes))
	weights := make([]int, 0, len(up.Nodes))
	for _, n := range up.Nodes {
		if n.Host == "" {
			return nil, errors.New("upstream node without host")
		}
		ups = append(ups, dial{Dial: nodeAddr(up, n)})
		w := n.Weight
		if w < 0 {
			w = 0
		}
		weights = append(weights, w)
	}
	cfg["upstreams"] = ups
	lb := map[string]any{}
	if len(ups) > 1 {
		switch up.Type {
		case "least_conn", "ewma":
			lb["selection_policy"] = map[string]any{"policy": "least_conn"}
		case "chash":
			lb["selection_policy"] = map[string]any{"policy": "ip_hash"}
		default:
			lb["selection_policy"] = map[string]any{"policy": "weighted_round_robin", "weights": weights}
		}
	}
	if up.Retries > 0 {
		lb["retries"] = up.Retries
	}
	if len(lb) > 0 {
		cfg["load_balancing"] = lb
	}
	tr := map[string]any{"protocol": "http"}
	if up.Connect > 0 {
		tr["dial_timeout"] = caddy.Duration(up.Connect)
	}
	if up.Read > 0 {
		// nginx's proxy_read_timeout is the longest pause between two reads, not a total: it bounds time to
		// first byte and every gap of a stream, and never cuts a long stream that keeps producing.
		tr["response_header_timeout"] = caddy.Duration(up.Read)
		tr["read_timeout"] = caddy.Duration(up.Read)
	}
	if up.Send > 0 {
		tr["write_timeout"] = caddy.Duration(up.Send)
	}
	if up.Scheme == "https" {
		tr["tls"] = map[string]any{}
	}
	cfg["transport"] = tr
	switch up.PassHost {
	case "node":
		cfg["headers"] = map[string]any{"request": map[string]any{"set": map[string][]string{"Host": {"{http.reverse_proxy.upstream.hostport}"}}}}
	case "rewrite":
		if up.UpstreamHost != "" {
			cfg["headers"] = map[string]any{"request": map[string]any{"set": map[string][]string{"Host": {up.UpstreamHost}}}}
		}
	}
	return json.Marshal(cfg)
}

var _ caddyhttp.MiddlewareHandler = (*reverseproxy.Handler)(nil)
