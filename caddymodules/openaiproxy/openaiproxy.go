// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package openaiproxy is the `dsp_openai` handler — FD2's OpenAI-compatible inference module in Caddy —
// and the `dsp.providers.*` guest modules. The same engine serves manifest inference_endpoint modules and
// routes carrying the APISIX ai-proxy / ai-proxy-multi plugins (see BuildForModule and BuildForPlugins,
// used by dsp_dispatch).
package openaiproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/caddymodules/ragproxy"
	"github.com/dsp-ai/fd2/dsp/apierr"
	fd2metrics "github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/inference/catalog"
	"github.com/dsp-ai/fd2/inference/responses"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `dsp_openai` handler: the OpenAI API (/v1/chat/completions, completions, embeddings,
// models, responses, moderations, images, audio, and any other /v1/* path passed through) served over
// configured provider deployments, with model aliases, weighted load balancing, fallback chains, a retry
// budget and circuit breakers. The authenticated principal's `models` allowlist is enforced (403
// model_not_allowed) and token usage is reported to metrics and to dsp_ratelimit's token limits.
type Handler struct {
	// Name labels a static site's requests in FD2's metrics and access log (their project label), when
	// dsp_openai is the site's first FD2 stage. Default "static".
	Name string `json:"name,omitempty"`
	// ProvidersRaw are the deployments by name, each a `dsp.providers.*` module (openai, azure, anthropic,
	// gemini, mock).
	ProvidersRaw map[string]json.RawMessage `json:"providers,omitempty" caddy:"namespace=dsp.providers inline_key=provider"`
	// Models maps client-facing model names (aliases; a trailing * is a prefix wildcard) to deployments.
	// Without any, every provider serves every model ("*") in declaration order by name.
	Models []ModelRoute `json:"models,omitempty"`
	// DefaultProvider names the deployment (of Providers) serving calls that name no model: files, batches,
	// vector stores, fine-tuning, GET /v1/responses/{id} of responses FD2 did not store. Without it such
	// calls go to a "*" model route if there is one, else they are answered 400 no_default_provider.
	DefaultProvider string `json:"default_provider,omitempty"`
	// MaxAttempts is the retry budget per request across deployments and fallbacks. Default 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// MaxBodySize caps request bodies. Default: the dsp app's max_body_size when the config has a dsp app,
	// else 10 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// BreakerOpenFor is how long a failing deployment is skipped before a probe. Default 30s.
	BreakerOpenFor caddy.Duration `json:"breaker_open_for,omitempty"`
	// Retrieval makes chat completions and Messages API requests retrieval-augmented: documents from a RAG
	// service go into the prompt and come back as `sources`.
	Retrieval *ragproxy.Retrieval `json:"retrieval,omitempty"`

	engine    *inference.Engine
	retriever *ragproxy.Retriever
	logger    *zap.Logger
}

// ModelRoute is one model alias.
type ModelRoute struct {
	// Alias is the model name clients send ("gpt-4o", "fast", "llama-*").
	Alias string `json:"alias"`
	// Targets are the deployments serving it.
	Targets []Target `json:"targets"`
	// Fallbacks are other aliases tried, in order, when every target failed retryably.
	Fallbacks []string `json:"fallbacks,omitempty"`
}

// Target is one deployment of an alias.
type Target struct {
	// Provider names a deployment of Providers.
	Provider string `json:"provider"`
	// Model is the provider-side model name; empty keeps the client's.
	Model string `json:"model,omitempty"`
	// Weight among targets of the same priority. Default 1.
	Weight int `json:"weight,omitempty"`
	// Priority: lower is tried first. Default 0.
	Priority int `json:"priority,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_openai", New: func() caddy.Module { return new(Handler) }}
}

// Provision loads the providers and builds the router.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	mods, err := ctx.LoadModule(h, "ProvidersRaw")
	if err != nil {
		return fmt.Errorf("loading providers: %w", err)
	}
	// Credentials may be secret references, resolved with the dsp app's Vaults, secrets config and
	// encryption key when the config has a dsp app (it is not required for a static site).
	var secret Resolve
	if appIface, err := ctx.AppIfConfigured("dsp"); err == nil && appIface != nil {
		app := appIface.(*gateway.App)
		secret = func(v string) (string, error) { return app.ResolveRef(ctx, v) }
		if h.MaxBodySize == 0 {
			h.MaxBodySize = app.BodyLimit()
		}
	} else {
		secret = func(v string) (string, error) { return (&secrets.Resolver{}).SecretFunc(ctx)(v) }
	}
	store := storeFor(ctx, "static/"+h.site())
	providers := map[string]inference.Provider{}
	for name, m := range mods.(map[string]any) {
		p, err := m.(ProviderModule).Build(name, secret)
		if err != nil {
			return fmt.Errorf("building provider %q: %w", name, err)
		}
		providers[name] = catalog.Extend(p, store)
	}
	routes, err := h.routes(providers)
	if err != nil {
		return err
	}
	router, err := inference.NewRouter(routes, routerOptions(h.MaxAttempts, time.Duration(h.BreakerOpenFor)))
	if err != nil {
		return fmt.Errorf("building model routes: %w", err)
	}
	h.engine = &inference.Engine{Backend: router, MaxBody: h.MaxBodySize, Hooks: hooks("", ""), Responses: responses.ForEngine(store)}
	if h.Retrieval != nil {
		if h.retriever, err = h.Retrieval.Build(nil); err != nil {
			return err
		}
	}
	return nil
}

// site is the static site's name (its project label and response store scope).
func (h *Handler) site() string {
	if h.Name == "" {
		return pipeline.StaticSite
	}
	return h.Name
}

func (h *Handler) routes(providers map[string]inference.Provider) ([]inference.Route, error) {
	if len(providers) == 0 {
		return nil, errors.New("at least one provider is required")
	}
	var out []inference.Route
	if h.DefaultProvider != "" {
		p, ok := providers[h.DefaultProvider]
		if !ok {
			return nil, fmt.Errorf("default_provider: unknown provider %q", h.DefaultProvider)
		}
		out = append(out, inference.Route{Alias: inference.ModellessAlias, Targets: []inference.Deployment{{Provider: p}}})
	}
	if len(h.Models) == 0 {
		names := make([]string, 0, len(providers))
		for n := range providers {
			names = append(names, n)
		}
		sort.Strings(names)
		rt := inference.Route{Alias: "*"}
		for i, n := range names {
			rt.Targets = append(rt.Targets, inference.Deployment{Provider: providers[n], Priority: i})
		}
		return append(out, rt), nil
	}
	for _, m := range h.Models {
		rt := inference.Route{Alias: m.Alias, Fallbacks: m.Fallbacks}
		for _, t := range m.Targets {
			p, ok := providers[t.Provider]
			if !ok {
				return nil, fmt.Errorf("model %q: unknown provider %q", m.Alias, t.Provider)
			}
			rt.Targets = append(rt.Targets, inference.Deployment{Provider: p, Model: t.Model, Weight: t.Weight, Priority: t.Priority})
		}
		out = append(out, rt)
	}
	return out, nil
}

// routerOptions are a router's options. Each failed provider call is recorded with the provider's own
// status (successful ones are recorded by the engine hooks at the end of the response), a deployment passed
// over counts in fd2_provider_skipped_total, breaker changes go to fd2_breaker_state and to the registry the
// detailed health report lists (inference.Breakers), and a provider refusing FD2's own credential is
// logged at ERROR: only an operator can fix it.
func routerOptions(maxAttempts int, openFor time.Duration) inference.RouterOptions {
	opts := inference.RouterOptions{MaxAttempts: maxAttempts}
	opts.Breaker.OpenFor = openFor
	if openFor <= 0 {
		openFor = 30 * time.Second // inference.BreakerOptions.OpenFor's default, for the registry
	}
	logger := caddy.Log().Named("dsp.inference")
	opts.OnBreaker = func(d inference.DeploymentKey, s inference.BreakerState) {
		breakerState.WithLabelValues(d.Provider, fd2metrics.Models.Value(d.Model)).Set(float64(s))
		inference.Breakers.Record(d, s, openFor)
	}
	opts.OnSkip = func(d inference.DeploymentKey, reason string) {
		providerSkipped.WithLabelValues(d.Provider, fd2metrics.Models.Value(d.Model), reason).Inc()
	}
	opts.OnAttempt = func(a inference.Attempt) {
		if a.Err == nil {
			return
		}
		status := a.Status
		if status == 0 {
			status = http.StatusBadGateway
			if errors.Is(a.Err, context.Canceled) {
				status = 499
			}
		}
		recordFailedCall(a.Deployment, a.Kind, a.Model, genaiOperation(a.Endpoint), status, a.Duration)
		var pe *inference.ProviderError
		if errors.As(a.Err, &pe) && inference.ProviderAuthFailed(pe) {
			if c := logger.Check(zapcore.ErrorLevel, "the provider refused the gateway's credentials; its breaker is open"); c != nil {
				c.Write(zap.String("provider", a.Deployment), zap.String("model", a.Model), zap.Int("status", pe.Status),
					zap.String("message", pe.Message))
			}
		}
	}
	return opts
}

// Validate checks the configuration. (Provision has consumed ProvidersRaw by now; an empty provider
// set already failed there.)
func (h *Handler) Validate() error {
	if h.MaxAttempts < 0 || h.MaxBodySize < 0 {
		return errors.New("dsp_openai: max_attempts and max_body_size must not be negative")
	}
	return nil
}

// ServeHTTP serves /…/v1/<endpoint>.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return pipeline.Serve(h, h.Name, w, r, next, h.logger)
}

// ServeStage serves the endpoint (pipeline.Stage).
func (h *Handler) ServeStage(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return ServeRetrieving(h.engine, h.retriever, w, r, endpointOf(r.URL.Path), pipeline.ExchangeOf(r), h.logger)
}

// endpointOf is the path after the last "/v1/" (the OpenAI API root), or the path itself.
func endpointOf(path string) string {
	if i := strings.LastIndex(path, "/v1/"); i >= 0 {
		return path[i+4:]
	}
	if strings.HasSuffix(path, "/v1") {
		return ""
	}
	return strings.TrimPrefix(path, "/")
}

// Serve runs one request of an exchange through an engine with the request's principal (model allowlist)
// and usage meter, turning engine errors into gateway errors for handle_errors. A response that broke off
// after it had begun is aborted (logged to logger), so the client sees a broken transfer, never a clean end.
func Serve(e *inference.Engine, w http.ResponseWriter, r *http.Request, endpoint string, x *plan.Exchange, logger *zap.Logger) error {
	return ServeRetrieving(e, nil, w, r, endpoint, x, logger)
}

// ServeRetrieving is Serve with retrieval-augmented chat: with a retriever, a chat completion's or a
// Messages API request's prompt gets the documents retrieved for its last user message, and its answer
// their sources.
func ServeRetrieving(e *inference.Engine, ret *ragproxy.Retriever, w http.ResponseWriter, r *http.Request, endpoint string,
	x *plan.Exchange, logger *zap.Logger) error {
	if endpoint == "" {
		return caddyhttp.Error(http.StatusNotFound, apierr.New(http.StatusNotFound, "not_found", "no OpenAI endpoint in the path"))
	}
	eng := *e // per-request view: the principal, the budget and the hooks are request-scoped
	// The engine reports the usage and enforces a token limit's budget itself, so the limiter in front
	// need not parse the response again.
	x.Usage.Claim()
	eng.CompletionBudget = x.Usage.Budget()
	if p := x.Principal; p != nil && len(p.Models) > 0 {
		eng.AllowModel = p.AllowsModel
	}
	if x.BodyLimit > 0 && (eng.MaxBody == 0 || x.BodyLimit < eng.MaxBody) {
		eng.MaxBody = x.BodyLimit // the pipeline's one cap, unless this handler's own is tighter
	}
	span := trace.SpanFromContext(r.Context())
	hk := hooks(x.MetricsProject(), endpoint)
	if x.NoMetrics {
		hk = noMetricHooks
	}
	if span.IsRecording() {
		// OpenTelemetry GenAI semantic conventions on the upstream span.
		base := hk.OnUsage
		hk.OnUsage = func(provider, kind, model string, u inference.Usage) {
			base(provider, kind, model, u)
			span.SetAttributes(attribute.String("gen_ai.system", kind), attribute.String("gen_ai.provider.name", genaiProvider(kind)),
				attribute.String("gen_ai.operation.name", genaiOperation(endpoint)), attribute.String("gen_ai.request.model", model),
				attribute.String("fd2.provider", provider),
				attribute.Int64("gen_ai.usage.input_tokens", u.PromptTokens), attribute.Int64("gen_ai.usage.output_tokens", u.CompletionTokens))
		}
	}
	// The usage meter (read by the limiter and the access log) and the log's provider fields.
	baseUsage, baseDone := hk.OnUsage, hk.OnProviderDone
	hk.OnUsage = func(provider, kind, model string, u inference.Usage) {
		baseUsage(provider, kind, model, u)
		x.Provider, x.Model = provider, model
		x.Usage.Report(ratelimit.Usage{Prompt: u.PromptTokens, Completion: u.CompletionTokens, Total: u.TotalTokens})
	}
	hk.OnProviderDone = func(provider, kind, model string, status int, d time.Duration) {
		baseDone(provider, kind, model, status, d)
		x.Provider, x.Model, x.UpstreamStatus = provider, model, status
	}
	hk.OnRouteFailed = func(provider, _, model string, status int) {
		x.Provider, x.Model, x.UpstreamStatus = provider, model, status
	}
	eng.Hooks = hk
	start := time.Now()
	x.UpstreamBegins(start) // a static site has no dispatch stage to mark it
	if ret != nil && r.Method == http.MethodPost {
		switch {
		case ragproxy.Augments(endpoint):
			if err := augment(ret, &eng, r, endpoint, x); err != nil {
				x.Upstream += time.Since(start)
				return err
			}
		case endpoint == inference.EndpointResponses || endpoint == inference.EndpointCompletions:
			// These generate text too, but FD2 cannot put documents into their prompts: an answer without the
			// documents the operator asked for is refused rather than served.
			return caddyhttp.Error(http.StatusBadRequest, apierr.New(http.StatusBadRequest, "retrieval_unsupported",
				"this model's answers are retrieval-augmented, which the /v1/"+endpoint+" endpoint does not support: use /v1/chat/completions or /v1/messages"))
		}
	}
	err := eng.ServeHTTP(w, r, endpoint)
	x.Upstream += time.Since(start)
	x.TrackBody(r)
	if err == nil {
		return nil
	}
	if errors.Is(err, inference.ErrResponseAborted) {
		if c := logger.Check(zapcore.ErrorLevel, "aborting an incomplete response"); c != nil {
			c.Write(zap.String("endpoint", endpoint), zap.Error(err), zap.String("project", x.ProjectID), zap.String("request_id", x.RequestID()))
		}
		panic(http.ErrAbortHandler) // net/http's way to cut the connection without ending the body
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return caddyhttp.Error(ae.Status, ae)
	}
	return caddyhttp.Error(http.StatusBadGateway, apierr.Wrap(http.StatusBadGateway, "upstream_error", "the provider request failed", err))
}

// augment runs the retrieval of a chat request: the documents go into the request body, their sources into
// the engine's answer. A body the engine would refuse is left to the engine to refuse.
func augment(ret *ragproxy.Retriever, eng *inference.Engine, r *http.Request, endpoint string, x *plan.Exchange) error {
	if x.BodyLimit == 0 && eng.MaxBody > 0 {
		x.BodyLimit = eng.MaxBody
	}
	body, err := x.Body(r)
	if err != nil {
		return pipeline.BodyError(err)
	}
	out, extra, err := ret.Augment(r.Context(), x, endpoint, r.Header, body)
	if err != nil {
		return err
	}
	if out != nil {
		x.ReplaceBody(r, out, true)
	}
	if extra != nil {
		eng.Extra = extra
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
