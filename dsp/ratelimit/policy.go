// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plugins"
)

// Policy is one limit that may apply to a request: a manifest route's limit plugin, a principal's
// rate_limit, or a static Caddyfile limit — one type, so the stage has one code path for all of them.
// Policies are built once (route policies when the manifest version compiles) and shared read-only.
type Policy struct {
	Rule Rule
	// Key is how a request's bucket is named.
	Key KeySpec
	// Tokens marks a token policy and Strategy what it counts: total_tokens, prompt_tokens or
	// completion_tokens.
	Tokens   bool
	Strategy string
	// Code and Message answer a rejection (Message "" = a generic one).
	Code    int
	Message string
}

// KeyKind says what a policy's buckets are keyed by.
type KeyKind uint8

// Key kinds.
const (
	KeyClientIP KeyKind = iota // the client address
	KeyConsumer                // the consumer, else the client address
	KeyConstant                // one bucket per policy
	KeyProject                 // the project
	KeyNginxVar                // an APISIX/nginx variable (http_x_*, arg_*, …) named by Name
	KeyTemplate                // a caller-expanded template (a Caddy placeholder) in Name
)

// KeySpec names a request's bucket: Prefix + the kind's value.
type KeySpec struct {
	Kind   KeyKind
	Prefix string
	Name   string
}

// KeyInput is what a key is computed from.
type KeyInput struct {
	Request  *http.Request
	ClientIP string
	Consumer string
	Project  string
	// Expand expands a KeyTemplate (nil: such keys fall back to the client address).
	Expand func(string) string
}

// Key returns the bucket key of a request.
func (k KeySpec) Key(in KeyInput) string {
	switch k.Kind {
	case KeyConstant:
		return k.Prefix + "const"
	case KeyConsumer:
		if in.Consumer != "" {
			return k.Prefix + "consumer:" + in.Consumer
		}
	case KeyProject:
		return k.Prefix + "project:" + in.Project
	case KeyNginxVar:
		return k.Prefix + k.Name + ":" + plugins.NginxVar(in.Request, k.Name)
	case KeyTemplate:
		if in.Expand != nil {
			return k.Prefix + "v:" + in.Expand(k.Name)
		}
	}
	return k.Prefix + "ip:" + in.ClientIP
}

// RoutePolicies decodes a manifest route's limit plugins (names, configs in raw) with APISIX semantics:
// limit-req (leaky bucket, rate/s + burst, default 503, admitted at once within the burst), limit-count
// (count per time_window, default 503) and ai-rate-limiting (tokens per time_window, default 429). Keys are
// scoped to project and route. An error names the plugin at fault.
func RoutePolicies(project, routeID string, names []string, raw manifest.Plugins) ([]*Policy, error) {
	var list []*Policy
	prefix := project + "/" + routeID + "/"
	for _, name := range names {
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
		if r := raw[name]; len(r) > 0 {
			if err := json.Unmarshal(r, &c); err != nil {
				return nil, fmt.Errorf("decoding %s: %w", name, err)
			}
		}
		p := &Policy{Code: c.RejectedCode, Message: c.RejectedMsg}
		switch name {
		case "limit-req":
			if c.Rate <= 0 {
				return nil, errors.New("limit-req: rate must be positive")
			}
			// APISIX delays requests within the burst; FD2 admits them at once (nodelay) and rejects beyond.
			p.Rule = Rule{Policy: "limit-req", Algorithm: GCRA, Limit: int64(c.Rate), Window: time.Second, Burst: int64(c.Burst)}
		case "limit-count":
			if c.Count <= 0 || c.TimeWindow <= 0 {
				return nil, errors.New("limit-count: count and time_window must be positive")
			}
			p.Rule = Rule{Policy: "limit-count", Algorithm: FixedWindow, Limit: c.Count, Window: seconds(c.TimeWindow)}
		case "ai-rate-limiting":
			if c.Limit <= 0 || c.TimeWindow <= 0 {
				return nil, errors.New("ai-rate-limiting: limit and time_window must be positive")
			}
			p.Rule = Rule{Policy: "ai-rate-limiting", Algorithm: FixedWindow, Limit: c.Limit, Window: seconds(c.TimeWindow)}
			p.Tokens = true
			p.Strategy = c.LimitStrategy
			if p.Strategy == "" {
				p.Strategy = "total_tokens"
			}
		case "limit-conn":
			// Concurrency limits are not implemented: say so instead of pretending.
			return nil, errors.New("limit-conn is not supported by FD2")
		default:
			return nil, fmt.Errorf("limit plugin %q is not supported by FD2", name)
		}
		if err := p.Rule.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if p.Code == 0 {
			p.Code = http.StatusServiceUnavailable // APISIX's default rejected_code
			if p.Tokens {
				p.Code = http.StatusTooManyRequests
			}
		}
		p.Key = apisixKey(prefix, c.KeyType, c.Key)
		list = append(list, p)
	}
	return list, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// apisixKey is the key of an APISIX limit plugin: key_type "var" (default) with key remote_addr (default),
// consumer_name, server_addr, http_x_*, arg_*, or "constant" (one bucket per route).
func apisixKey(prefix, keyType, key string) KeySpec {
	if keyType == "constant" {
		return KeySpec{Kind: KeyConstant, Prefix: prefix}
	}
	switch key {
	case "", "remote_addr":
		return KeySpec{Kind: KeyClientIP, Prefix: prefix}
	case "consumer_name":
		return KeySpec{Kind: KeyConsumer, Prefix: prefix}
	}
	return KeySpec{Kind: KeyNginxVar, Prefix: prefix, Name: key}
}

// ConsumerPolicy is the limit of a principal's rate_limit claim or key field: n requests per minute per
// consumer.
func ConsumerPolicy(n int) *Policy {
	return &Policy{Rule: Rule{Policy: "consumer", Algorithm: FixedWindow, Limit: int64(n), Window: time.Minute},
		Key: KeySpec{Kind: KeyConsumer, Prefix: "consumer/"}, Code: http.StatusTooManyRequests}
}
