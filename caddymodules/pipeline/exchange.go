// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/plan"
)

// varKey is the caddyhttp var holding the request's *plan.Exchange.
const varKey = "dsp_exchange"

// ExchangeOf returns the request's exchange, the one value the FD2 stages share. The first FD2 stage to ask
// creates it — dsp_manifest on a manifest site, dsp_auth, dsp_ratelimit or dsp_openai on a static one — and
// publishes it: the {dsp.*} placeholders and the access log's dsp_* fields read it.
func ExchangeOf(r *http.Request) *plan.Exchange {
	if x, ok := caddyhttp.GetVar(r.Context(), varKey).(*plan.Exchange); ok {
		return x
	}
	x := plan.NewExchange(time.Now(), r.Header.Get("X-Request-Id"))
	x.TraceParent = trace.SpanFromContext(r.Context())
	caddyhttp.SetVar(r.Context(), varKey, x)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(x.Placeholder)
	}
	if elf, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		elf.Add(zap.Inline(x)) // rendered when the access log line is written, see plan.Exchange.MarshalLogObject
	}
	return x
}

// existingExchange returns the request's exchange without creating one.
func existingExchange(r *http.Request) *plan.Exchange {
	x, _ := caddyhttp.GetVar(r.Context(), varKey).(*plan.Exchange)
	return x
}
