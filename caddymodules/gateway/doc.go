// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package gateway is the Caddy glue of FD2's spine: the `dsp` app (manifest sources, cache tiers, last-good
// store, Redis, the project pool with each version's proxies and built modules), the `dsp.modules`
// namespace of manifest module types (ModuleType, CompileProject), the request's exchange (ExchangeOf),
// the `dsp_manifest` handler that resolves a request's project and route, the `dsp_error` handler that
// renders errors for `handle_errors`, the `dsp_health` handler and the `admin.api.dsp` admin routes. The
// gateway logic itself lives in the Caddy-free packages under dsp/ (dsp/plan for the compiled routes and
// the exchange).
package gateway
