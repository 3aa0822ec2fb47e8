// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Command fd2 is Caddy's command line with Caddy's standard modules and every FD2 module, plus two
// commands of FD2's own:
//
//	fd2 run --config Caddyfile.example
//	fd2 version    # FD2's version and commit, then Caddy's version line
//	fd2 health     # exit 0 when the local /health answers 200 (the container's HEALTHCHECK)
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/dsp-ai/fd2"
	"github.com/dsp-ai/fd2/internal/buildinfo"
)

func main() {
	if isVersion(os.Args[1:]) {
		printVersion(os.Stdout)
		return
	}
	// Caddy's root command reads these when it is built, inside Main: help and completions say fd2.
	caddy.CustomBinaryName = "fd2"
	caddy.CustomLongDescription = longDescription
	caddycmd.Main()
}

const longDescription = `FD2 is the DSP Front Door: an AI API gateway built as Caddy modules.

It resolves each project's manifest (files or the DSP Control Tower), matches its routes,
authenticates, rate-limits and dispatches to the module serving the route: an upstream proxy,
OpenAI- and Anthropic-compatible inference over many providers, the token broker, RAG.

Every Caddy command works as it does in caddy, with FD2's modules built in:

	$ fd2 run --config Caddyfile.example
	$ fd2 reload --config Caddyfile
	$ fd2 adapt --config Caddyfile --validate

FD2 adds two commands: 'fd2 version' prints FD2's version and commit above Caddy's, and
'fd2 health' exits 0 when the local /health answers 200 (the container's HEALTHCHECK).

Caddy's documentation applies to everything that is not FD2's: https://caddyserver.com/docs/
`

// isVersion reports whether args ask only for the version: `version`, or the root's `--version` / `-v`.
// They are answered before Caddy's command line because Caddy registers `version` itself and binds its
// function in a closure at init: replacing the entry of caddycmd.Commands() changes nothing, and
// registering the name again panics. Anything else (`version --help`, `build-info`, `list-modules`) still
// goes to Caddy untouched.
func isVersion(args []string) bool {
	if len(args) != 1 {
		return false
	}
	switch args[0] {
	case "version", "--version", "-v":
		return true
	}
	return false
}

// printVersion writes FD2's line, then Caddy's exactly as `caddy version` prints it.
func printVersion(w io.Writer) {
	_, caddyFull := caddy.Version()
	fmt.Fprintf(w, "fd2 %s\ncaddy %s\n", buildinfo.Read(), caddyFull)
}
