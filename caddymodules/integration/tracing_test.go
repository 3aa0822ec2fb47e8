// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dsp-ai/fd2/examples/fakellm"
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
	spans := traceExporter.GetSpans()
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

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
