// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command fd2 is Caddy's command line with Caddy's standard modules and every FD2 module.
//
//	fd2 run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/dsp-ai/fd2"
)

func main() { caddycmd.Main() }
