// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package caddymodules

import "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

// Directive order, in pipeline order, registered once here. Caddy only lets a plugin anchor on standard
// directives, so every stage goes Before "basic_auth" and they are registered in pipeline sequence: each new
// registration lands right before basic_auth, i.e. after the previous stage. The result is
//
//	dsp_manifest → dsp_auth → dsp_ratelimit → dsp_dispatch
//
// all before basic_auth, so an operator can still put Caddy's own auth in front by ordering it explicitly.
// dsp_openai, the inference module's own handler, and dsp_rag, the RAG service's front, are terminal like a
// proxy and go before reverse_proxy. dsp_health, dsp_error, dsp_fakellm and dsp_ragservice are terminal
// handlers used in routes of their own (/health, handle_errors, a fake LLM upstream, a RAG2 double) and sit
// next to respond.
func init() {
	httpcaddyfile.RegisterDirectiveOrder("dsp_manifest", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("dsp_auth", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("dsp_ratelimit", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("dsp_dispatch", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("dsp_openai", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("dsp_rag", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("dsp_health", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("dsp_error", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("dsp_fakellm", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("dsp_ragservice", httpcaddyfile.Before, "respond")
}
