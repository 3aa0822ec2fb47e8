// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"io"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// GenAIProviderName maps a Provider.Kind to the OpenTelemetry GenAI conventions' well-known
// gen_ai.provider.name value.
func GenAIProviderName(kind string) string {
	switch kind {
	case "azure":
		return "azure.ai.openai"
	case "gemini":
		return "gcp.gemini"
	case "":
		return "_OTHER"
	}
	return kind // openai, anthropic, mock
}

// GenAIOperationName maps an OpenAI endpoint to the conventions' gen_ai.operation.name. Endpoints without
// a well-known operation keep their own (fixed) name; anything else is "other".
func GenAIOperationName(endpoint string) string {
	switch endpoint {
	case "chat/completions", "responses":
		return "chat"
	case "completions":
		return "text_completion"
	case "embeddings":
		return "embeddings"
	case "images/generations", "images/edits", "images/variations", "audio/speech", "audio/transcriptions",
		"audio/translations", "moderations", "rerank":
		return endpoint
	}
	return "other"
}

// GenAIErrorType is the conventions' error.type for a call's status ("" for success).
func GenAIErrorType(status int) string {
	switch {
	case status < 400:
		return ""
	case status == 499:
		return "cancelled"
	}
	return strconv.Itoa(status)
}

var noopSpan = trace.SpanFromContext(context.Background())

// startAttempt starts the client span of one provider call — named "{operation} {model}" with the GenAI
// attributes, as the conventions name inference client spans — under ctx's span, and writes its W3C trace
// context into the call's headers so that the provider joins the trace. Without a recording parent span
// (tracing off) it does nothing and costs one context lookup.
func startAttempt(ctx context.Context, req *Request, dep Deployment) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, noopSpan
	}
	op := GenAIOperationName(req.Endpoint)
	ctx, span := parent.TracerProvider().Tracer("github.com/dsp-ai/fd2/inference").Start(ctx, op+" "+req.Model,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", op),
			attribute.String("gen_ai.provider.name", GenAIProviderName(dep.Provider.Kind())),
			attribute.String("gen_ai.request.model", req.Model),
			attribute.String("fd2.provider", dep.Provider.Name()),
		))
	if req.Header != nil {
		req.Header.Del("Traceparent")
		req.Header.Del("Tracestate")
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return ctx, span
}

// endAttempt ends an attempt's span: at once for a failure, when the body is closed for a response (the
// call lasts as long as its stream).
func endAttempt(span trace.Span, resp *Response, status int, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if err != nil {
		et := "_OTHER" // no HTTP answer (refused, reset, timed out)
		if status >= 400 {
			et = GenAIErrorType(status)
		}
		span.SetAttributes(attribute.String("error.type", et))
		span.SetStatus(codes.Error, "provider call failed")
		span.End()
		return
	}
	if resp == nil || resp.Body == nil {
		span.End()
		return
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
}

// spanBody ends its span when the response body is closed.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.span.End() })
	return err
}
