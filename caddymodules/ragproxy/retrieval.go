// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ragproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/inference"
	"github.com/dsp-ai/fd2/rag"
)

// Retrieval configures retrieval-augmented chat at the gateway: the `retrieval` block of dsp_openai, and
// the `retrieval` member of a manifest inference_endpoint config (or its shorthand `"rag_service":
// "<module>"`). For each chat completion and Messages API request FD2 retrieves documents for the last
// user message, under the caller's enforced metadata_filter, puts them in the prompt and returns them as
// `sources`; the other generating endpoints (responses, completions) are refused rather than served
// without them.
type Retrieval struct {
	// RAG is the source: a rag_service module of the same project, by name (its service, configuration,
	// defaults and default filter apply), or a RAG service's URL (service root, as a manifest's
	// service_url; a static site's only choice).
	RAG string `json:"rag"`
	// Configuration is the RAG configuration to search; default the module's configuration_name (required
	// with a URL).
	Configuration string `json:"configuration,omitempty"`
	// K is how many documents to retrieve; default the module's default_k, else 5.
	K int `json:"k,omitempty"`
	// Threshold is the minimum similarity; default the module's default_similarity_threshold, else 0.
	Threshold *float64 `json:"threshold,omitempty"`
	// Filter is a metadata filter AND-ed with the module's default and the caller's claim.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Template is the Go text/template that renders the documents into the system message FD2 adds
	// (package rag documents its data); default rag's.
	Template string `json:"template,omitempty"`
	// Timeout bounds a retrieval, in seconds; default the module's request_timeout, else 10.
	Timeout float64 `json:"timeout,omitempty"`
	// MaxRetries bounds retries of a failed retrieval; default the module's max_retries, else 1.
	MaxRetries *int `json:"max_retries,omitempty"`
}

// Retriever is a Retrieval ready to serve.
type Retriever struct {
	r      *rag.Retriever
	source string // the metric's source label
	// module: the source is a rag_service module of the project, whose own route passes the caller's
	// platform token on to the service (see header).
	module bool
}

// Build resolves the source (peer finds a module of the project; nil on a static site) and builds the
// retriever.
func (c *Retrieval) Build(peer func(name string) *plan.ModuleSpec) (*Retriever, error) {
	if c.RAG == "" {
		return nil, errors.New("retrieval: rag (a rag_service module or a RAG service URL) is required")
	}
	var rc rag.RetrieverConfig
	source := c.RAG
	var err error
	if isURL(c.RAG) {
		rc, source, err = c.fromURL()
	} else {
		rc, err = c.fromModule(peer)
	}
	if err != nil {
		return nil, err
	}
	if c.Configuration != "" {
		rc.Configuration = c.Configuration
	}
	if c.K > 0 {
		rc.K = c.K
	}
	if c.Threshold != nil {
		rc.Threshold = c.Threshold
	}
	if len(c.Filter) > 0 {
		if rc.Filter, err = rag.ComposeFilter(rc.Filter, c.Filter); err != nil {
			return nil, fmt.Errorf("retrieval: filter: %w", err)
		}
	}
	if c.Template != "" {
		rc.Template = c.Template
	}
	if c.Timeout > 0 {
		rc.Timeout = time.Duration(c.Timeout * float64(time.Second))
	}
	if c.MaxRetries != nil {
		rc.MaxRetries = *c.MaxRetries
	}
	r, err := rag.NewRetriever(rc)
	if err != nil {
		return nil, fmt.Errorf("retrieval: %w", err)
	}
	return &Retriever{r: r, source: source, module: !isURL(c.RAG)}, nil
}

// defaultURLTimeout bounds a retrieval from a URL source: it holds up the chat's first token, so the
// platform's 60 s request_timeout is too patient.
const defaultURLTimeout = 10 * time.Second

// fromURL is a source given by the RAG service's URL; its metric label is the URL's host.
func (c *Retrieval) fromURL() (rag.RetrieverConfig, string, error) {
	u, err := url.Parse(c.RAG)
	if err != nil || u.Host == "" {
		return rag.RetrieverConfig{}, "", errors.New("retrieval: rag is not a valid URL") // the URL may carry credentials
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// They would be dropped from the calls: refuse them rather than retrieve unauthenticated.
		return rag.RetrieverConfig{}, "", errors.New("retrieval: rag URL must be the service root, without credentials, query or fragment")
	}
	if c.Configuration == "" {
		return rag.RetrieverConfig{}, "", errors.New("retrieval: configuration is required when rag is a URL")
	}
	cfg := rag.DefaultServiceConfig()
	cfg.ServiceURL, cfg.ConfigurationName = c.RAG, c.Configuration
	svc, err := rag.NewService(cfg, strings.TrimRight(u.EscapedPath(), "/"))
	if err != nil {
		return rag.RetrieverConfig{}, "", fmt.Errorf("retrieval: %w", err)
	}
	rc := svc.RetrieverConfig(u.Scheme + "://" + u.Host)
	rc.Threshold = nil // RAG2's own default
	rc.Timeout, rc.MaxRetries = defaultURLTimeout, 1
	return rc, u.Host, nil
}

// fromModule is a source given as a rag_service module of the project: its service, configuration,
// defaults, default filter, request_timeout and max_retries.
func (c *Retrieval) fromModule(peer func(string) *plan.ModuleSpec) (rag.RetrieverConfig, error) {
	if peer == nil {
		return rag.RetrieverConfig{}, fmt.Errorf("retrieval: rag %q: a module name needs a manifest; give the RAG service's URL", c.RAG)
	}
	spec := peer(c.RAG)
	if spec == nil || spec.Type() != manifest.TypeRAGService {
		return rag.RetrieverConfig{}, fmt.Errorf("retrieval: rag %q names no rag_service module of the project", c.RAG)
	}
	up := spec.Upstream
	if up == nil || len(up.Nodes) == 0 {
		return rag.RetrieverConfig{}, fmt.Errorf("retrieval: rag_service %q has no usable service_url", c.RAG)
	}
	cfg, err := rag.DecodeServiceConfig(spec.Module.Config)
	if err != nil {
		return rag.RetrieverConfig{}, fmt.Errorf("retrieval: rag_service %q: %w", c.RAG, err)
	}
	svc, err := rag.NewService(cfg, up.BasePath)
	if err != nil {
		return rag.RetrieverConfig{}, fmt.Errorf("retrieval: rag_service %q: %w", c.RAG, err)
	}
	n := up.Nodes[0]
	return svc.RetrieverConfig(up.Scheme + "://" + hostPort(n.Host, n.Port)), nil
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// Augments reports whether Augment serves endpoint: the chat endpoints, OpenAI's chat completions and
// Anthropic's Messages API.
func Augments(endpoint string) bool {
	return endpoint == inference.EndpointChat || endpoint == inference.EndpointMessages
}

// Augment retrieves documents for a chat request of endpoint (see Augments) and returns the body to send,
// with them in the prompt, and the sources to attach to the answer. When the request has no user message
// to search for, the sources are nil and so is the body, unless the request's own filter had to be taken
// out of it. The time spent is the exchange's retrieval time.
//
// in is the request's header, after the auth stage: see header for what of it reaches the RAG service.
func (rt *Retriever) Augment(ctx context.Context, x *plan.Exchange, endpoint string, in http.Header, body []byte) ([]byte, *inference.Extra, error) {
	// A request's own filter (RAG2's chat extension) narrows the retrieval, AND-ed with the claim; it is
	// no chat parameter, so providers do not see it, whether or not there is anything to retrieve.
	f := gjson.GetBytes(body, "filter")
	if f.Exists() {
		if !f.IsObject() {
			return nil, nil, caddyhttp.Error(http.StatusBadRequest, apierr.New(http.StatusBadRequest, "invalid_filter", "filter must be a JSON object"))
		}
		var err error
		if body, err = sjson.DeleteBytes(body, "filter"); err != nil {
			return nil, nil, caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object", err))
		}
	}
	query, ok := rag.LastUserMessage(body)
	if !ok || strings.TrimSpace(query) == "" {
		if f.Exists() {
			return body, nil, nil
		}
		return nil, nil, nil
	}
	claim, err := claimFilter(x.Principal)
	if err != nil {
		return nil, nil, caddyhttp.Error(http.StatusForbidden, err)
	}
	if f.Exists() {
		if claim, err = rag.ComposeFilter(json.RawMessage(f.Raw), claim); err != nil {
			return nil, nil, caddyhttp.Error(http.StatusBadRequest, err)
		}
	}
	t0 := time.Now()
	sources, err := rt.r.Retrieve(ctx, query, claim, rt.header(x, in))
	took := time.Since(t0)
	x.Retrieval += took
	if !x.NoMetrics {
		// The project label is the request's: a static site's is the name of its first FD2 stage.
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		retrievalDuration.WithLabelValues(x.MetricsProject(), rt.source, outcome).Observe(took.Seconds())
	}
	if err != nil {
		return nil, nil, retrievalError(err)
	}
	augment := rag.Augment
	if endpoint == inference.EndpointMessages {
		augment = rag.AugmentMessages
	}
	out, err := augment(body, query, sources, rt.r.Template())
	if err != nil {
		return nil, nil, caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", "adding the retrieved documents to the prompt failed", err))
	}
	return out, &inference.Extra{Field: "sources", Value: rag.SourcesJSON(sources)}, nil
}

// header is what a retrieval sends besides its body: the request id, and, when the source is a module, the
// caller's platform token as the module's own route would pass it on, so that a RAG configuration with its
// own JWT security (RAG2's security.type jwt_bearer) admits the call and applies its claims too. Only a
// bearer token verified as a project consumer's (jwt-auth, or the JWS a jwe-decrypt unwrapped into
// Authorization) goes: FD2's API keys, and anything on a URL source, never leave the gateway.
func (rt *Retriever) header(x *plan.Exchange, in http.Header) http.Header {
	h := make(http.Header, 2)
	if id := x.RequestID(); id != "" {
		h.Set("X-Request-ID", id)
	}
	if !rt.module || x.Principal == nil || (x.Principal.Method != "jwt-auth" && x.Principal.Method != "jwe-decrypt") {
		return h
	}
	if a := in.Get("Authorization"); len(a) > len("Bearer ") && strings.EqualFold(a[:len("Bearer ")], "Bearer ") {
		h.Set("Authorization", a)
	}
	return h
}

// retrievalError is the client's answer to a failed retrieval: the RAG service's failure is the gateway's
// upstream failing (502, or 504 on a timeout), whatever status it had.
func retrievalError(err error) error {
	status := http.StatusBadGateway
	msg := "retrieving documents failed"
	var ae *apierr.Error
	if errors.As(err, &ae) {
		if ae.Status == http.StatusGatewayTimeout {
			status = http.StatusGatewayTimeout
		}
		msg += ": " + ae.Message
	}
	return caddyhttp.Error(status, apierr.Wrap(status, "retrieval_failed", msg, err))
}

// UnmarshalCaddyfile parses a `retrieval` block:
//
//	retrieval {
//		rag           <module name or RAG service URL>
//		configuration <name>
//		k             <n>
//		threshold     <similarity>
//		filter        <JSON object>
//		template      <Go text/template>
//		timeout       <duration>
//		max_retries   <n>
//	}
func (c *Retrieval) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	err := caddyfileopt.Block(d, func(name string) error {
		switch name {
		case "rag":
			return caddyfileopt.Args(d, &c.RAG)
		case "configuration":
			return caddyfileopt.Args(d, &c.Configuration)
		case "template":
			return caddyfileopt.Args(d, &c.Template)
		case "k":
			n, err := caddyfileopt.Int(d, 1)
			c.K = n
			return err
		case "max_retries":
			n, err := caddyfileopt.Int(d, 0)
			c.MaxRetries = &n
			return err
		case "threshold":
			f, err := thresholdArg(d)
			c.Threshold = &f
			return err
		case "filter":
			f, err := filterArg(d)
			c.Filter = f
			return err
		case "timeout":
			dur, err := caddyfileopt.PositiveDuration(d)
			c.Timeout = time.Duration(dur).Seconds()
			return err
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	})
	if err == nil && c.RAG == "" {
		return d.Err("retrieval: rag (a rag_service module or a RAG service URL) is required")
	}
	return err
}
