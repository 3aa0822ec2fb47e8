// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package secrets

import "errors"

// Sentinel errors, for errors.Is. Errors built on them name the reference (instance, mount, path, key,
// variable or config path) but never a secret value, so they are safe to log and to return to callers.
var (
	// ErrNotFound means the reference is well formed but names nothing: a missing Vault secret or key, an
	// unset environment variable, a missing config path.
	ErrNotFound = errors.New("secret not found")
	// ErrUnavailable means the backend could not answer (Vault down or unauthenticated past the grace
	// period, no secrets config or encryption key loaded) and no usable cached value exists.
	ErrUnavailable = errors.New("secret backend unavailable")
	// ErrInvalidRef means the reference cannot be parsed, names an unknown Vault instance, is ambiguous (a
	// multi-key secret without #key) or an encrypted: token fails authentication.
	ErrInvalidRef = errors.New("invalid secret reference")
)
