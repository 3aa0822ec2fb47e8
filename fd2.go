// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package fd2 is FD2, the DSP Front Door: an AI API gateway built as Caddy v2 modules. Importing this
// package registers every FD2 module, which is what
//
//	xcaddy build --with github.com/dsp-ai/fd2=./
//
// relies on. cmd/fd2 is the ready-made binary.
package fd2

import (
	_ "github.com/dsp-ai/fd2/caddymodules"
)
