// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import "errors"

var (
	// ErrUnavailable reports that a store's backend (Redis) could not be reached in time: connection refused
	// or reset, timeouts, a server that is loading or read-only. Stores wrap transport failures with it so
	// that [Failover] can tell an outage from a bug (a script error is not an outage and does not fail over).
	ErrUnavailable = errors.New("ratelimit: store unavailable")

	// ErrInvalidRule reports a rule that cannot be enforced (non-positive limit or window, a GCRA rate finer
	// than the microsecond resolution, a negative burst). Callers should reject such rules at config load.
	ErrInvalidRule = errors.New("ratelimit: invalid rule")

	// ErrInvalidUnits reports a Take of fewer than one unit.
	ErrInvalidUnits = errors.New("ratelimit: units must be at least 1")
)
