// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package ratelimit is the `dsp_ratelimit` handler: request and token limits from the matched route's
// manifest plugins (limit-req, limit-count, ai-rate-limiting), from the authenticated principal's
// rate_limit, and from static Caddyfile policies. Decisions are made by dsp/ratelimit against a memory
// store or, exactly across instances, Redis.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/inference"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("dsp_ratelimit", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(Handler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

var decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "fd2_ratelimit_decisions_total",
	Help: "Rate-limit decisions by policy and result (allowed, rejected, fail_open, unavailable).",
}, []string{"policy", "result"})

var outages = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "fd2_ratelimit_store_down",
	Help: "1 while the Redis rate-limit store is unreachable and the fail mode decides.",
})

// allowedByPolicy holds the "allowed" counter of every policy name FD2 uses, bound once: admitting a request
// is the common case and should not hash labels (a read-only map, read without a lock).
var allowedByPolicy = func() map[string]prometheus.Counter {
	m := map[string]prometheus.Counter{}
	for _, p := range []string{"limit-req", "limit-count", "ai-rate-limiting", "static", "static_tokens", "consumer"} {
		m[p] = decisions.WithLabelValues(p, "allowed")
	}
	return m
}()

// admitted records an admitting decision: result "allowed", or "fail_open" when the fail-open fallback
// made it (the request's access-log verdict says so too).
func (h *Handler) admitted(x *plan.Exchange, p *ratelimit.Policy, d ratelimit.Decision) {
	if d.Degraded {
		x.LimitResult = "fail_open"
		if !x.NoMetrics {
			decisions.WithLabelValues(p.Rule.Policy, "fail_open").Inc()
		}
		return
	}
	if !x.NoMetrics {
		allowedCounter(p.Rule.Policy).Inc()
	}
}

func allowedCounter(policy string) prometheus.Counter {
	if c := allowedByPolicy[policy]; c != nil {
		return c
	}
	return decisions.WithLabelValues(policy, "allowed")
}

// Collectors returns this package's Prometheus collectors (for dashboards' and alerts' validation).
func Collectors() []prometheus.Collector { return []prometheus.Collector{decisions, outages} }

// Handler is the `dsp_ratelimit` handler. Every policy that applies to a request must admit it:
//
//   - manifest route plugins (APISIX semantics): limit-req (leaky bucket, rate/s + burst, rejected_code
//     default 503, admitted at once within the burst), limit-count (count per time_window, aligned windows,
//     default 503), ai-rate-limiting (tokens per time_window by limit_strategy total_tokens, prompt_tokens or
//     completion_tokens, default 429);
//   - the authenticated principal's rate_limit (requests per minute per consumer, the DSP JWT service's
//     claim and FD2 API keys' setting), unless PrincipalLimits is off;
//   - the static Requests and Tokens policies, keyed By within the handler's Zone (its own counters unless
//     several handlers name the same zone).
//
// Token policies reserve prompt tokens (estimated from the request) plus max_tokens (or DefaultMaxTokens)
// at admission, and settle with the provider's reported usage when the response ends — streams included —
// refunding or charging the difference. A rejection answers the policy's code (429 by default) with
// Retry-After, RateLimit-Policy / RateLimit and X-RateLimit-* headers; admitted requests carry the headers
// of the tightest policy.
type Handler struct {
	// Name labels a static site's requests in FD2's metrics and access log (their project label), when this
	// is the site's first FD2 stage. Default "static".
	Name string `json:"name,omitempty"`
	// Requests is a static request limit, e.g. "600/m" (units s, m, h, d or a duration).
	Requests string `json:"requests,omitempty"`
	// Tokens is a static LLM token limit, e.g. "200000/m".
	Tokens string `json:"tokens,omitempty"`
	// By keys static policies: consumer (default; the client IP without one), key (the API key id),
	// project, ip, or a placeholder such as {http.request.header.X-Team}.
	By string `json:"by,omitempty"`
	// Zone names the counters of the static Requests and Tokens policies (letters, digits, '_', '-', '.').
	// Handlers with the same zone share their counters on purpose — one budget across several sites or
	// routes — whatever their limits. Default: the handler's own position in the config (its server and
	// its place among that server's dsp_ratelimit handlers), so two sites that each say `requests 10/m`
	// admit 10 each. Positions are stable across reloads of the same config (limiter state survives a
	// reload, and a changed limit applies to the existing count); an edit that adds or removes a
	// dsp_ratelimit handler before this one in its server moves it to a fresh position, so name a zone
	// to keep its counters through such edits. Manifest route policies and the principal's rate_limit
	// are keyed by project and route or by consumer, not by zone.
	Zone string `json:"zone,omitempty"`
	// Store is memory or redis. Default: redis when the dsp app has `cache redis`, else memory.
	Store string `json:"store,omitempty"`
	// FailMode decides while Redis is unreachable: open (default; decide locally at limit/Instances) or
	// closed (503).
	FailMode string `json:"fail_mode,omitempty"`
	// Instances is how many FD2 instances share the limits; fail-open divides limits by it. Default 1.
	Instances int `json:"instances,omitempty"`
	// DefaultMaxTokens is reserved for completion when a request names no max_tokens. Default 1024.
	DefaultMaxTokens int64 `json:"default_max_tokens,omitempty"`
	// RejectedCode for static policies. Default 429.
	RejectedCode int `json:"rejected_code,omitempty"`
	// PrincipalLimits applies the principal's rate_limit. Default true.
	PrincipalLimits *bool `json:"principal_limits,omitempty"`
	// HardBudget ends a streamed completion that outgrows the completion tokens reserved for it (its
	// max_tokens, or DefaultMaxTokens when it named none) with a final `finish_reason: "length"` chunk, an
	// SSE error event and `data: [DONE]` — a clean end, never a cut connection. Default true.
	HardBudget *bool `json:"hard_budget,omitempty"`

	store     ratelimit.Store
	redis     *redis.Client
	memKey    string
	zone      string // Zone, or the handler's position: the namespace of its static policies' keys
	posKey    any    // this handler's entry in positions (its server in the config being loaded)
	logger    *zap.Logger
	static    []*ratelimit.Policy
	principal bool
	bodyLimit int64 // the dsp app's max_body_size
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_ratelimit", New: func() caddy.Module { return new(Handler) }}
}

// memoryStores keeps limiter state across config reloads: every config gets the same memory store.
var memoryStores = caddy.NewUsagePool()

type memoryHolder struct{ s *ratelimit.MemoryStore }

func (memoryHolder) Destruct() error { return nil }

// Provision builds the store and the static policies.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	for _, c := range []prometheus.Collector{decisions, outages} {
		if err := ctx.GetMetricsRegistry().Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	if h.Instances <= 0 {
		h.Instances = 1
	}
	if h.DefaultMaxTokens <= 0 {
		h.DefaultMaxTokens = 1024
	}
	if h.RejectedCode == 0 {
		h.RejectedCode = http.StatusTooManyRequests
	}
	h.principal = h.PrincipalLimits == nil || *h.PrincipalLimits
	h.memKey = "dsp_ratelimit.memory"
	v, _, err := memoryStores.LoadOrNew(h.memKey, func() (caddy.Destructor, error) {
		return memoryHolder{s: ratelimit.NewMemoryStore(nil)}, nil
	})
	if err != nil {
		return err
	}
	mem := v.(memoryHolder).s
	appIface, err := ctx.App("dsp")
	if err != nil {
		return fmt.Errorf("getting dsp app: %w", err)
	}
	app := appIface.(*gateway.App)
	h.bodyLimit = app.BodyLimit()
	useRedis := h.Store == "redis" || (h.Store == "" && app.RedisClient() != nil)
	if h.Store == "redis" && app.RedisClient() == nil {
		return errors.New("store redis: the dsp app has no Redis (add `cache redis <url>` to the dsp options)")
	}
	if useRedis {
		// A limiter must notice an outage in milliseconds, not after go-redis's default retries and 5 s dial
		// timeout: it gets its own client to the same server, with short timeouts and no retries.
		opts := app.RedisOptions()
		opts.MaxRetries = -1
		opts.DialTimeout = 250 * time.Millisecond
		opts.ReadTimeout = 250 * time.Millisecond
		opts.WriteTimeout = 250 * time.Millisecond
		opts.PoolTimeout = 250 * time.Millisecond
		h.redis = redis.NewClient(opts)
		mode := ratelimit.FailOpen
		if h.FailMode == "closed" {
			mode = ratelimit.FailClosed
		}
		logger := h.logger
		h.store = &ratelimit.Failover{
			Primary:   &ratelimit.RedisStore{Client: h.redis},
			Fallback:  mem,
			Mode:      mode,
			Instances: h.Instances,
			OnOutage: func(down bool) {
				if down {
					outages.Set(1)
					logger.Error("rate-limit store unreachable; deciding by fail mode", zap.String("fail_mode", h.failMode()))
				} else {
					outages.Set(0)
					logger.Info("rate-limit store reachable again; exact limits resumed")
				}
			},
		}
	} else {
		h.store = mem
	}
	h.zone = h.Zone
	if h.zone == "" {
		srv, _ := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
		h.posKey = any(app) // a handler outside any HTTP server: the config's dsp app stands for it
		name := ""
		if srv != nil {
			h.posKey, name = srv, srv.Name()
		}
		h.zone = positions.next(h.posKey, name)
	}
	return h.compileStatic()
}

// compileStatic builds the static Requests and Tokens policies, keyed within h.zone.
func (h *Handler) compileStatic() error {
	h.static = nil
	if h.Requests != "" {
		n, w, err := parseRate(h.Requests)
		if err != nil {
			return fmt.Errorf("requests: %w", err)
		}
		h.static = append(h.static, &ratelimit.Policy{Rule: ratelimit.Rule{Policy: "static", Algorithm: ratelimit.FixedWindow, Limit: n, Window: w},
			Key: h.staticKey("req"), Code: h.RejectedCode})
	}
	if h.Tokens != "" {
		n, w, err := parseRate(h.Tokens)
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		h.static = append(h.static, &ratelimit.Policy{Rule: ratelimit.Rule{Policy: "static_tokens", Algorithm: ratelimit.FixedWindow, Limit: n, Window: w},
			Key: h.staticKey("tok"), Tokens: true, Strategy: "total_tokens", Code: h.RejectedCode})
	}
	return nil
}

func (h *Handler) failMode() string {
	if h.FailMode == "" {
		return "open"
	}
	return h.FailMode
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	switch h.Store {
	case "", "memory", "redis":
	default:
		return fmt.Errorf("store: %q is not memory or redis", h.Store)
	}
	switch h.FailMode {
	case "", "open", "closed":
	default:
		return fmt.Errorf("fail_mode: %q is not open or closed", h.FailMode)
	}
	if h.Zone != "" && !validZone(h.Zone) {
		return fmt.Errorf("zone: %q may hold only letters, digits, '_', '-' and '.'", h.Zone)
	}
	return nil
}

// Cleanup releases this config's hold on the shared memory store.
func (h *Handler) Cleanup() error {
	if h.redis != nil {
		_ = h.redis.Close()
	}
	if h.posKey != nil {
		// Cleanup runs once the config is unloaded (or failed to load): its count is of no further use.
		positions.forget(h.posKey)
	}
	if h.memKey != "" {
		_, err := memoryStores.Delete(h.memKey)
		return err
	}
	return nil
}

// staticKey is the key of a static policy: its zone and kind, then By.
func (h *Handler) staticKey(kind string) ratelimit.KeySpec {
	k := ratelimit.KeySpec{Prefix: "static/" + h.zone + "/" + kind + "/"}
	switch h.By {
	case "", "consumer", "key":
		k.Kind = ratelimit.KeyConsumer
	case "project":
		k.Kind = ratelimit.KeyProject
	case "ip":
		k.Kind = ratelimit.KeyClientIP
	default:
		k.Kind, k.Name = ratelimit.KeyTemplate, h.By
	}
	return k
}

// keyInput is what the request's bucket keys are computed from.
func keyInput(r *http.Request, x *plan.Exchange) ratelimit.KeyInput {
	in := ratelimit.KeyInput{Request: r, ClientIP: clientIP(r), Consumer: x.Consumer(), Project: x.ProjectID}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		in.Expand = func(s string) string { return repl.ReplaceAll(s, "") }
	}
	return in
}

type taken struct {
	p   *ratelimit.Policy
	d   ratelimit.Decision
	key string
}

// ServeHTTP applies every policy of the request. Its errors, and those of the handlers after it, reach
// the client as FD2's JSON error even on a site without handle_errors (pipeline.Respond).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return pipeline.Serve(h, h.Name, w, r, next, h.logger)
}

// ServeStage is the stage's own work (pipeline.Stage).
func (h *Handler) ServeStage(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return h.serve(w, r, next)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	x := pipeline.ExchangeOf(r)
	r, span := pipeline.StartSpan(r, "fd2.ratelimit")
	defer span.End()
	{
		t0 := time.Now()
		inner := next
		next = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			span.End()
			x.Done(plan.StageRateLimit, t0)
			return inner.ServeHTTP(w, r)
		})
	}
	x.RateLimited = true
	// One code path for every policy: the route's (compiled with its manifest version), the principal's,
	// the static ones.
	// The lists live on the stack for the usual handful of policies.
	var polBuf [8]*ratelimit.Policy
	pols := polBuf[:0]
	if x.Route != nil {
		pols = append(pols, x.Route.Limits...)
	}
	if h.principal {
		if p := x.Principal; p != nil && p.RateLimit > 0 && p.Consumer != "" {
			pols = append(pols, ratelimit.ConsumerPolicy(p.RateLimit))
		}
	}
	pols = append(pols, h.static...)
	if len(pols) == 0 {
		x.LimitResult = "none"
		return next.ServeHTTP(w, r)
	}
	x.LimitResult = "allowed" // until a policy says otherwise
	in := keyInput(r, x)

	ctx := r.Context()
	var doneBuf [8]taken
	var tokenBuf [8]*ratelimit.Policy
	done, tokenPols := doneBuf[:0], tokenBuf[:0]
	for _, p := range pols {
		if p.Tokens {
			tokenPols = append(tokenPols, p)
			continue
		}
		key := p.Key.Key(in)
		d, err := h.store.Take(ctx, key, p.Rule, 1)
		if err != nil {
			h.refund(ctx, done)
			return h.storeError(x, p, err)
		}
		if !d.Allowed {
			h.refund(ctx, done)
			return h.reject(w, x, p, d)
		}
		h.admitted(x, p, d)
		done = append(done, taken{p: p, d: d, key: key})
	}

	var res []*reservation
	if len(tokenPols) > 0 {
		prompt, maxTok, err := h.estimate(r, x)
		if err != nil {
			h.refund(ctx, done)
			return err
		}
		for _, p := range tokenPols {
			n := tokensFor(p.Strategy, prompt, maxTok)
			key := p.Key.Key(in)
			d, rv, err := ratelimit.Reserve(ctx, h.store, key, p.Rule, n)
			if err != nil {
				h.refund(ctx, done)
				h.settleAll(ctx, res, nil)
				return h.storeError(x, p, err)
			}
			if !d.Allowed {
				h.refund(ctx, done)
				h.settleAll(ctx, res, nil)
				return h.reject(w, x, p, d)
			}
			h.admitted(x, p, d)
			done = append(done, taken{p: p, d: d, key: key})
			res = append(res, &reservation{p: p, rv: rv, prompt: prompt, max: maxTok})
		}
	}
	setTightest(w.Header(), done)
	if len(res) == 0 {
		return next.ServeHTTP(w, r)
	}

	// Token policies: an in-process module reports the provider's usage on the exchange's meter; for a
	// proxied upstream the response is watched for it.
	sw := &inference.BudgetWriter{ResponseWriter: w, Metered: x.Usage.Claimed}
	if h.HardBudget == nil || *h.HardBudget {
		sw.CapTokens = res[0].max
		for _, rs := range res[1:] {
			sw.CapTokens = min(sw.CapTokens, rs.max)
		}
		x.Usage.Limit(sw.CapTokens)
	}
	err := serveBudgeted(sw, r, next)
	sw.Finish()
	var u *ratelimit.Usage
	reported, ok := x.Usage.Usage()
	switch {
	case ok:
		u = &reported
	case sw.Sniffer() != nil:
		if got, ok := sw.Sniffer().Usage(); ok {
			u = &ratelimit.Usage{Prompt: got.PromptTokens, Completion: got.CompletionTokens, Total: got.TotalTokens}
		} else if est := sw.Sniffer().CompletionEstimate(); est > 0 || sw.Status() < 400 {
			u = &ratelimit.Usage{Completion: est}
			u.Prompt = -1 // unknown: keep the prompt estimate
		}
	}
	// Settle on a context that outlives a client that hung up mid-stream: the tokens were spent anyway. Only
	// a remote store needs a bound on that (the in-memory one never waits).
	sctx := context.WithoutCancel(ctx)
	if _, local := h.store.(*ratelimit.MemoryStore); !local {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, 2*time.Second)
		defer cancel()
	}
	h.settleAll(sctx, res, u)
	return err
}

type reservation struct {
	p      *ratelimit.Policy
	rv     *ratelimit.Reservation
	prompt int64
	max    int64
}

// settleAll reconciles reservations with the real usage (nil: the request never reached a provider, so
// everything is refunded).
func (h *Handler) settleAll(ctx context.Context, res []*reservation, u *ratelimit.Usage) {
	for _, rs := range res {
		actual := int64(0)
		if u != nil {
			prompt := u.Prompt
			if prompt < 0 {
				prompt = rs.prompt
			}
			completion := u.Completion
			total := u.Total
			if total <= 0 {
				total = prompt + completion
			}
			switch rs.p.Strategy {
			case "prompt_tokens":
				actual = prompt
			case "completion_tokens":
				actual = completion
			default:
				actual = total
			}
		}
		if err := rs.rv.Settle(ctx, actual); err != nil {
			h.logger.Debug("settling token reservation failed", zap.String("policy", rs.p.Rule.Policy), zap.Error(err))
		}
	}
}

func (h *Handler) refund(ctx context.Context, done []taken) {
	for _, t := range done {
		if t.p.Rule.Algorithm == ratelimit.FixedWindow && !t.p.Tokens {
			_ = h.store.Adjust(ctx, t.key, t.p.Rule, t.d.WindowStart, -1)
		}
	}
}

func (h *Handler) storeError(x *plan.Exchange, p *ratelimit.Policy, err error) error {
	if !x.NoMetrics {
		decisions.WithLabelValues(p.Rule.Policy, "unavailable").Inc()
	}
	x.LimitResult = "unavailable"
	return caddyhttp.Error(http.StatusServiceUnavailable, apierr.Wrap(http.StatusServiceUnavailable, "ratelimit_unavailable",
		"rate limiting is temporarily unavailable", err))
}

func (h *Handler) reject(w http.ResponseWriter, x *plan.Exchange, p *ratelimit.Policy, d ratelimit.Decision) error {
	if !x.NoMetrics {
		decisions.WithLabelValues(p.Rule.Policy, "rejected").Inc()
	}
	x.LimitResult = "rejected"
	ratelimit.SetHeaders(w.Header(), d, p.Rule)
	msg := p.Message
	if msg == "" {
		msg = "rate limit exceeded (" + p.Rule.Policy + ")"
		if p.Tokens {
			msg = "token limit exceeded (" + p.Rule.Policy + ")"
		}
	}
	code := "rate_limit_exceeded"
	if p.Tokens {
		code = "token_limit_exceeded"
	}
	return caddyhttp.Error(p.Code, apierr.New(p.Code, code, msg))
}

// setTightest publishes the headers of the policy with the fewest remaining units.
func setTightest(h http.Header, done []taken) {
	var best *taken
	for i := range done {
		if best == nil || done[i].d.Remaining < best.d.Remaining {
			best = &done[i]
		}
	}
	if best != nil {
		ratelimit.SetHeaders(h, best.d, best.p.Rule)
	}
}

func tokensFor(strategy string, prompt, maxTok int64) int64 {
	var n int64
	switch strategy {
	case "prompt_tokens":
		n = prompt
	case "completion_tokens":
		n = maxTok
	default:
		n = prompt + maxTok
	}
	if n < 1 {
		n = 1
	}
	return n
}

// estimate reads the request body (once, under the pipeline's cap, shared with later stages) and estimates
// its prompt tokens and max_tokens.
func (h *Handler) estimate(r *http.Request, x *plan.Exchange) (int64, int64, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return 0, h.DefaultMaxTokens, nil
	}
	if x.BodyLimit == 0 {
		x.BodyLimit = h.bodyLimit // a static site: the dsp app's cap
	}
	body, err := x.Body(r)
	if err != nil {
		return 0, 0, pipeline.BodyError(err)
	}
	prompt, maxTok := inference.EstimateRequest(body, h.DefaultMaxTokens)
	return prompt, maxTok, nil
}

// serveBudgeted runs next. Once the hard budget has ended the client's stream (cleanly, with [DONE]), the
// writer's errors stop the proxy copying the upstream, which closes it: the provider stops generating
// tokens nobody reads. What that makes the next handler do is expected, not a failure: Caddy's
// reverse_proxy panics with http.ErrAbortHandler when it cannot finish copying a response. It ends the
// request normally here. Any other panic, or anything before the cut, passes through untouched.
func serveBudgeted(sw *inference.BudgetWriter, r *http.Request, next caddyhttp.Handler) (err error) {
	defer func() {
		if !sw.Cut() {
			return
		}
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			panic(p)
		}
		err = nil
	}()
	return next.ServeHTTP(sw, r)
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_ratelimit {
//		name <site label>
//		requests <n>/<unit>
//		tokens   <n>/<unit>
//		by       consumer|key|project|ip|<placeholder>
//		zone     <name>
//		store    memory|redis
//		fail_mode open|closed
//		instances <n>
//		default_max_tokens <n>
//		rejected_code <code>
//		principal_limits on|off
//		hard_budget on|off
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(name string) error {
		var err error
		switch name {
		case "name":
			return caddyfileopt.Args(d, &h.Name)
		case "requests", "tokens", "by", "zone", "store", "fail_mode":
			return h.parseWord(d, name)
		case "instances":
			h.Instances, err = caddyfileopt.Int(d, 1)
		case "default_max_tokens":
			var n int
			n, err = caddyfileopt.Int(d, 1)
			h.DefaultMaxTokens = int64(n)
		case "rejected_code":
			h.RejectedCode, err = caddyfileopt.Int(d, 1)
			if err == nil && (h.RejectedCode < 400 || h.RejectedCode > 599) {
				return d.Errf("rejected_code: %d is not a 4xx or 5xx status", h.RejectedCode)
			}
		case "principal_limits":
			var on bool
			on, err = caddyfileopt.OnOff(d)
			h.PrincipalLimits = &on
		case "hard_budget":
			var on bool
			on, err = caddyfileopt.OnOff(d)
			h.HardBudget = &on
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
		return err
	})
}

// parseWord parses the options whose one argument is a word checked against its own grammar.
func (h *Handler) parseWord(d *caddyfile.Dispenser, name string) error {
	var v string
	if err := caddyfileopt.Args(d, &v); err != nil {
		return err
	}
	switch name {
	case "requests", "tokens":
		if _, _, err := parseRate(v); err != nil {
			return d.Errf("%s: %v", name, err)
		}
		if name == "requests" {
			h.Requests = v
		} else {
			h.Tokens = v
		}
	case "by":
		switch {
		case v == "consumer" || v == "key" || v == "project" || v == "ip":
		case strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}"):
		default:
			return d.Errf("by: %q is not consumer, key, project, ip or a {placeholder}", v)
		}
		h.By = v
	case "zone":
		if !validZone(v) {
			return d.Errf("zone: %q may hold only letters, digits, '_', '-' and '.'", v)
		}
		h.Zone = v
	case "store":
		if v != "memory" && v != "redis" {
			return d.Errf("store: %q is not memory or redis", v)
		}
		h.Store = v
	default:
		if v != "open" && v != "closed" {
			return d.Errf("fail_mode: %q is not open or closed", v)
		}
		h.FailMode = v
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
