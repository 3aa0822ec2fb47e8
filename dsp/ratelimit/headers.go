// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// SetHeaders writes the rate-limit headers for d: the IETF draft fields (draft-ietf-httpapi-ratelimit-headers)
// RateLimit-Policy "<limit>;w=<window s>" and RateLimit "limit=<l>, remaining=<r>, reset=<s>", the
// X-RateLimit-Limit/-Remaining/-Reset trio that APISIX and most clients read, and Retry-After when the
// request was rejected. Seconds are rounded up so that a client waiting that long is never early, and
// Retry-After is at least 1 because 0 invites an immediate retry storm.
func SetHeaders(h http.Header, d Decision, rule Rule) {
	limit := strconv.FormatInt(d.Limit, 10)
	remaining := strconv.FormatInt(d.Remaining, 10)
	reset := strconv.FormatInt(ceilSeconds(d.Reset), 10)
	h.Set("RateLimit-Policy", strconv.FormatInt(rule.Limit, 10)+";w="+strconv.FormatInt(max(ceilSeconds(rule.Window), 1), 10))
	h.Set("RateLimit", "limit="+limit+", remaining="+remaining+", reset="+reset)
	h.Set("X-RateLimit-Limit", limit)
	h.Set("X-RateLimit-Remaining", remaining)
	h.Set("X-RateLimit-Reset", reset)
	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
