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
//
// It is on every limited request's path, so it renders all the values into one buffer and one string and
// sets the (canonical) keys directly: three allocations instead of a dozen.
func SetHeaders(h http.Header, d Decision, rule Rule) {
	var buf [160]byte
	b := buf[:0]
	b = strconv.AppendInt(b, d.Limit, 10)
	limitEnd := len(b)
	b = strconv.AppendInt(b, d.Remaining, 10)
	remEnd := len(b)
	b = strconv.AppendInt(b, ceilSeconds(d.Reset), 10)
	resetEnd := len(b)
	b = strconv.AppendInt(b, rule.Limit, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, max(ceilSeconds(rule.Window), 1), 10)
	policyEnd := len(b)
	b = append(b, "limit="...)
	b = append(b, b[:limitEnd]...)
	b = append(b, ", remaining="...)
	b = append(b, b[limitEnd:remEnd]...)
	b = append(b, ", reset="...)
	b = append(b, b[remEnd:resetEnd]...)
	all := string(b)
	v := make([]string, 6)
	v[0], v[1], v[2] = all[resetEnd:policyEnd], all[policyEnd:], all[:limitEnd]
	v[3], v[4] = all[limitEnd:remEnd], all[remEnd:resetEnd]
	h["Ratelimit-Policy"] = v[0:1:1]
	h["Ratelimit"] = v[1:2:2]
	h["X-Ratelimit-Limit"] = v[2:3:3]
	h["X-Ratelimit-Remaining"] = v[3:4:4]
	h["X-Ratelimit-Reset"] = v[4:5:5]
	if !d.Allowed {
		v[5] = strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10)
		h["Retry-After"] = v[5:6:6]
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
