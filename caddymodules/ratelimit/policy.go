// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
)

// policy is one limit that applies to a request.
type policy struct {
	rule ratelimit.Rule
	// key computes the bucket key for a request ("" = this policy does not apply to it).
	key func(r *http.Request, st *gateway.Request) string
	// tokens marks a token policy and what it counts.
	tokens   bool
	strategy string // total_tokens | prompt_tokens | completion_tokens
	// rejection
	code int
	msg  string
}

// routePolicies are the policies of one manifest route, compiled once per project version.
type routePolicies struct {
	list []*policy
}

// compileRoute reads limit-req, limit-count and ai-rate-limiting from a route's plugins (APISIX semantics).
func compileRoute(info *gateway.RouteInfo, project string) (*routePolicies, error) {
	rp := &routePolicies{}
	if info == nil || info.Transforms == nil {
		return rp, nil
	}
	prefix := project + "/" + info.Route.ID + "/"
	for _, name := range info.Transforms.Limits {
		raw := info.Transforms.Raw[name]
		var c struct {
			Rate          float64 `json:"rate"`
			Burst         float64 `json:"burst"`
			Count         int64   `json:"count"`
			Limit         int64   `json:"limit"`
			TimeWindow    float64 `json:"time_window"`
			Key           string  `json:"key"`
			KeyType       string  `json:"key_type"`
			RejectedCode  int     `json:"rejected_code"`
			RejectedMsg   string  `json:"rejected_msg"`
			LimitStrategy string  `json:"limit_strategy"`
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &c); err != nil {
				return nil, fmt.Errorf("decoding %s: %w", name, err)
			}
		}
		p := &policy{code: c.RejectedCode, msg: c.RejectedMsg}
		switch name {
		case "limit-req":
			if c.Rate <= 0 {
				return nil, fmt.Errorf("limit-req: rate must be positive")
			}
			// APISIX delays requests within the burst; FD2 admits them at once (nodelay) and rejects beyond.
			p.rule = ratelimit.Rule{Policy: "limit-req", Algorithm: ratelimit.GCRA, Limit: int64(c.Rate), Window: time.Second, Burst: int64(c.Burst)}
			if p.code == 0 {
				p.code = http.StatusServiceUnavailable // APISIX default rejected_code
			}
		case "limit-count":
			if c.Count <= 0 || c.TimeWindow <= 0 {
				return nil, fmt.Errorf("limit-count: count and time_window must be positive")
			}
			p.rule = ratelimit.Rule{Policy: "limit-count", Algorithm: ratelimit.FixedWindow, Limit: c.Count, Window: seconds(c.TimeWindow)}
			if p.code == 0 {
				p.code = http.StatusServiceUnavailable
			}
		case "ai-rate-limiting":
			if c.Limit <= 0 || c.TimeWindow <= 0 {
				return nil, fmt.Errorf("ai-rate-limiting: limit and time_window must be positive")
			}
			p.rule = ratelimit.Rule{Policy: "ai-rate-limiting", Algorithm: ratelimit.FixedWindow, Limit: c.Limit, Window: seconds(c.TimeWindow)}
			p.tokens = true
			p.strategy = c.LimitStrategy
			if p.strategy == "" {
				p.strategy = "total_tokens"
			}
			if p.code == 0 {
				p.code = http.StatusTooManyRequests
			}
		case "limit-conn":
			// Concurrency limits are not implemented: say so instead of pretending.
			return nil, fmt.Errorf("limit-conn is not supported by FD2")
		}
		p.key = apisixKey(prefix, c.KeyType, c.Key)
		rp.list = append(rp.list, p)
	}
	return rp, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// apisixKey builds the key function of an APISIX limit plugin: key_type "var" (default) with key
// remote_addr (default), consumer_name, server_addr, http_x_*, arg_*, or "constant" (one bucket per route).
func apisixKey(prefix, keyType, key string) func(*http.Request, *gateway.Request) string {
	if keyType == "constant" {
		return func(*http.Request, *gateway.Request) string { return prefix + "const" }
	}
	switch key {
	case "", "remote_addr":
		return func(r *http.Request, _ *gateway.Request) string { return prefix + "ip:" + clientIP(r) }
	case "consumer_name":
		return func(r *http.Request, st *gateway.Request) string {
			if st != nil && st.Consumer != "" {
				return prefix + "consumer:" + st.Consumer
			}
			return prefix + "ip:" + clientIP(r)
		}
	}
	return func(r *http.Request, _ *gateway.Request) string { return prefix + key + ":" + plugins.NginxVar(r, key) }
}

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
