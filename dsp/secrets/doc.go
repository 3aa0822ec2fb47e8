// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package secrets resolves the Control Tower's secret references (spec §1.3) for FD2:
//
//	vault:<instance>:<path>[#key][@version]  a KV secret from a named Vault instance
//	vault://<mount>/<path>#key               the seed README's form, against the default instance
//	config:a.b.c                             a dotted lookup in the secrets config JSON
//	env:VAR                                  the process environment
//	encrypted:<fernet token>                 Fernet, keyed by ENCRYPTION_KEY (key or passphrase)
//	literal:x                                x itself
//
// Anything else is returned unchanged, exactly as the Control Tower's resolve_secret does.
//
// Resolved values are wrapped in Value, which renders as "[redacted]" in every formatter, encoder and
// logger we use, so that a secret cannot leak by accident into a log line, an error or a JSON dump;
// Value.Reveal is the single, greppable way out.
//
// The package is a plain library: it never imports Caddy. The dsp app owns the Vault instances (their
// Start goroutines live on its caddy.Context) and plugs Resolver.Resolve into manifest.EnvOptions.Secret.
package secrets
