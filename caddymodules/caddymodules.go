// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package caddymodules registers every FD2 Caddy module. Import it for its side effects:
//
//	import _ "github.com/dsp-ai/fd2/caddymodules"
package caddymodules

import (
	_ "github.com/dsp-ai/fd2/caddymodules/auth"
	_ "github.com/dsp-ai/fd2/caddymodules/devtools"
	_ "github.com/dsp-ai/fd2/caddymodules/dispatch"
	_ "github.com/dsp-ai/fd2/caddymodules/gateway"
	_ "github.com/dsp-ai/fd2/caddymodules/openaiproxy"
	_ "github.com/dsp-ai/fd2/caddymodules/ratelimit"
)
