// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// clientIP is the address FD2 saw (Caddy's client_ip honours trusted_proxies).
func clientIP(r *http.Request) string {
	if v, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && v != "" {
		return v
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// parseRate reads "600/m", "10/s", "200000/h", "5000/1m30s".
func parseRate(s string) (int64, time.Duration, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q: want <n>/<unit>", s)
	}
	count, err := strconv.ParseInt(n, 10, 64)
	if err != nil || count <= 0 {
		return 0, 0, fmt.Errorf("rate %q: count must be a positive integer", s)
	}
	var w time.Duration
	switch unit {
	case "s", "sec", "second":
		w = time.Second
	case "m", "min", "minute":
		w = time.Minute
	case "h", "hour":
		w = time.Hour
	case "d", "day":
		w = 24 * time.Hour
	default:
		d, err := caddy.ParseDuration(unit)
		if err != nil || d <= 0 {
			return 0, 0, fmt.Errorf("rate %q: unknown unit %q", s, unit)
		}
		w = d
	}
	return count, w, nil
}
