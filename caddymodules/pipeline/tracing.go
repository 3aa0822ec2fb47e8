// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StartSpan starts a child span of the request's trace — Caddy's `tracing` directive starts the server
// span and its tracer provider — and returns the request carrying it, with the W3C trace context of the
// new span written into the request headers so that upstreams and providers are parented under the FD2
// stage that called them. Without tracing (no valid parent span) it costs nothing and returns r and a
// no-op span.
//
// Stages are siblings under the server span (a flat timeline, like Server-Timing), not nested: with the
// pipeline state present, the parent is the span that was current when dsp_manifest began.
func StartSpan(r *http.Request, name string, attrs ...attribute.KeyValue) (*http.Request, trace.Span) {
	parent := trace.SpanFromContext(r.Context())
	if x := existingExchange(r); x != nil && x.TraceParent != nil {
		parent = x.TraceParent
	}
	if !parent.SpanContext().IsValid() {
		return r, parent
	}
	pctx := trace.ContextWithSpan(r.Context(), parent)
	ctx, span := parent.TracerProvider().Tracer("github.com/dsp-ai/fd2").Start(pctx, name,
		trace.WithAttributes(attrs...), trace.WithSpanKind(trace.SpanKindInternal))
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return r.WithContext(ctx), span
}
