// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package caddymodules

import "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

// Directive order, in pipeline order, registered once here. Every stage goes before basic_auth so that a
// site may still wrap FD2 routes in Caddy's own auth or rewrite directives that come earlier. Each
// RegisterDirectiveOrder call anchors on the previous stage, so the relative order is exact:
//
//	dsp_manifest → (dsp_auth → dsp_ratelimit, when their issues land) → dsp_dispatch
//
// dsp_error and dsp_health are terminal handlers used in their own routes (handle_errors, /health) and are
// ordered next to respond.
func init() {
	httpcaddyfile.RegisterDirectiveOrder("dsp_manifest", httpcaddyfile.Before, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("dsp_dispatch", httpcaddyfile.After, "dsp_manifest")
	httpcaddyfile.RegisterDirectiveOrder("dsp_health", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("dsp_error", httpcaddyfile.Before, "respond")
}
