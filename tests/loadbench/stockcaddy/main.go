// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command stockcaddy is Caddy with its standard modules and nothing of FD2: the baseline of the side-by-side
// load benchmark. Built inside fd2's module, it links exactly the Caddy version fd2 does.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() { caddycmd.Main() }
