// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// testTraceRoot stands in for Caddy's `tracing` directive (whose exporter is OTLP, configured from the
// environment): it starts the server span with a tracer provider that records into memory. FD2's stages
// then create their spans under it exactly as they do under Caddy's.
type testTraceRoot struct{}

var traceExporter = tracetest.NewInMemoryExporter()
var traceProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(traceExporter))

func init() {
	caddy.RegisterModule(testTraceRoot{})
	httpcaddyfile.RegisterHandlerDirective("fd2_test_trace", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		return testTraceRoot{}, nil
	})
	httpcaddyfile.RegisterDirectiveOrder("fd2_test_trace", httpcaddyfile.Before, "basic_auth")
}

func (testTraceRoot) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.fd2_test_trace", New: func() caddy.Module { return testTraceRoot{} }}
}

func (testTraceRoot) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ctx, span := traceProvider.Tracer("test").Start(r.Context(), "server")
	defer span.End()
	return next.ServeHTTP(w, r.WithContext(ctx))
}

// TestTracingSpans: each stage records a span under the server span, and the upstream receives the W3C
// trace context of FD2's upstream span.
func TestTracingSpans(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "acme", demoDoc("acme", hostOf(llm)))
	f := startFD2(t, "manifests file "+dir, `
:{{HTTP}} {
	route {
		fd2_test_trace
		dsp_manifest
		dsp_auth
		dsp_ratelimit
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`)
	traceExporter.Reset()
	r := do(t, "GET", f.url("/acme/echo/traced"), "")
	expectStatus(t, r, 200)
	// dsp_manifest hands the response over before its bookkeeping, so the client may read it before the
	// outer (server) span has ended: wait for it.
	spans := waitSpans(t, "server")
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["server"]
	if !ok {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	for _, name := range []string{"fd2.manifest", "fd2.auth", "fd2.ratelimit", "fd2.dispatch", "fd2.upstream"} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no %s span (have %v)", name, names(spans))
		}
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() || s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Fatalf("%s is not a child of the server span", name)
		}
	}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal(r.body, &echo); err != nil {
		t.Fatal(err)
	}
	tp := strings.Join(echo.Headers["Traceparent"], "")
	up := byName["fd2.upstream"].SpanContext
	if !strings.Contains(tp, up.TraceID().String()) || !strings.Contains(tp, up.SpanID().String()) {
		t.Fatalf("upstream traceparent %q does not carry the fd2.upstream span %s/%s", tp, up.TraceID(), up.SpanID())
	}
}

// waitSpans returns the exported spans once one named name is among them (at most 2 s).
func waitSpans(t *testing.T, name string) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		spans := traceExporter.GetSpans()
		for _, s := range spans {
			if s.Name == name {
				return spans
			}
		}
		if time.Now().After(deadline) {
			return spans
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestTracingProviderCalls: an inference request whose first deployment fails records one client span per
// provider call, named and attributed after the OpenTelemetry GenAI conventions, under the request's
// upstream span; each provider receives the trace context of its own call's span.
func TestTracingProviderCalls(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	var flakyParent atomic.Value
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flakyParent.Store(r.Header.Get("Traceparent"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`)
	}))
	t.Cleanup(flaky.Close)
	dir := t.TempDir()
	writeManifest(t, dir, "tracegen", fmt.Sprintf(`{"project_id":"tracegen","project_name":"tracegen","modules":[
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[
	    {"name":"multi","uri":"/tracegen/multi/*","methods":["POST"],
	     "plugins":{"ai-proxy-multi":{"instances":[
	       {"name":"flaky","provider":"openai-compatible","priority":2,"weight":1,"options":{"model":"fake-gpt"},
	        "override":{"endpoint":"%s/v1/chat/completions"}},
	       {"name":"good","provider":"openai-compatible","priority":1,"weight":1,"options":{"model":"fake-gpt"},
	        "override":{"endpoint":"%s/v1/chat/completions"}}]}}}]}}]}`, flaky.URL, llm.URL))
	f := startFD2(t, "manifests file "+dir, `
:{{HTTP}} {
	route {
		fd2_test_trace
		dsp_manifest
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`)
	traceExporter.Reset()
	r := do(t, "POST", f.url("/tracegen/multi/v1/chat/completions"),
		`{"model":"whatever","messages":[{"role":"user","content":"trace me"}]}`, "Content-Type", "application/json")
	expectStatus(t, r, 200)
	spans := waitSpans(t, "server")
	var upstream tracetest.SpanStub
	var calls []tracetest.SpanStub
	for _, s := range spans {
		switch s.Name {
		case "fd2.upstream":
			upstream = s
		case "chat fake-gpt":
			calls = append(calls, s)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d provider call spans, want 2 (have %v)", len(calls), names(spans))
	}
	attr := func(s tracetest.SpanStub, k string) string {
		for _, kv := range s.Attributes {
			if string(kv.Key) == k {
				return kv.Value.String()
			}
		}
		return ""
	}
	// Spans are exported as they end: the failed call first.
	failed, ok := calls[0], calls[1]
	for _, c := range calls {
		if c.Parent.SpanID() != upstream.SpanContext.SpanID() || c.SpanKind != trace.SpanKindClient {
			t.Errorf("call span %v: parent %s (want fd2.upstream %s), kind %v", c.Name, c.Parent.SpanID(),
				upstream.SpanContext.SpanID(), c.SpanKind)
		}
		if attr(c, "gen_ai.operation.name") != "chat" || attr(c, "gen_ai.provider.name") != "openai" ||
			attr(c, "gen_ai.request.model") != "fake-gpt" {
			t.Errorf("call span attributes %v", c.Attributes)
		}
	}
	if attr(failed, "error.type") != "503" || failed.Status.Code != otelcodes.Error || attr(ok, "error.type") != "" ||
		attr(ok, "http.response.status_code") != "200" {
		t.Errorf("failed call %v / %v, good call %v", failed.Attributes, failed.Status, ok.Attributes)
	}
	tp, _ := flakyParent.Load().(string)
	if !strings.Contains(tp, failed.SpanContext.SpanID().String()) {
		t.Errorf("the failing provider got traceparent %q, not its call span %s", tp, failed.SpanContext.SpanID())
	}
}
