// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/route"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		in      string
		n       int64
		w       time.Duration
		wantErr bool
	}{
		{"600/m", 600, time.Minute, false},
		{"10/s", 10, time.Second, false},
		{"200000/h", 200000, time.Hour, false},
		{"5/1m30s", 5, 90 * time.Second, false},
		{"1/d", 1, 24 * time.Hour, false},
		{"0/m", 0, 0, true},
		{"x/m", 0, 0, true},
		{"10", 0, 0, true},
		{"10/fortnight", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			n, w, err := parseRate(tc.in)
			if (err != nil) != tc.wantErr || n != tc.n || w != tc.w {
				t.Fatalf("parseRate(%q) = %d, %v, %v", tc.in, n, w, err)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, in string
		wantErr  bool
	}{
		{"full", "dsp_ratelimit {\n requests 600/m\n tokens 200000/m\n by {http.request.header.X-Team}\n store redis\n fail_mode closed\n instances 3\n default_max_tokens 512\n rejected_code 503\n principal_limits off\n hard_budget off\n}", false},
		{"bare", "dsp_ratelimit", false},
		{"bad rate", "dsp_ratelimit {\n requests lots\n}", true},
		{"bad by", "dsp_ratelimit {\n by user\n}", true},
		{"bad store", "dsp_ratelimit {\n store s3\n}", true},
		{"bad fail mode", "dsp_ratelimit {\n fail_mode maybe\n}", true},
		{"bad code", "dsp_ratelimit {\n rejected_code 200\n}", true},
		{"duplicate", "dsp_ratelimit {\n requests 1/s\n requests 2/s\n}", true},
		{"argument", "dsp_ratelimit 5", true},
		{"unknown", "dsp_ratelimit {\n zone x\n}", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.name == "full" && (h.Requests != "600/m" || h.Tokens != "200000/m" || h.Store != "redis" || h.FailMode != "closed" ||
				h.Instances != 3 || h.DefaultMaxTokens != 512 || h.RejectedCode != 503 || *h.PrincipalLimits || *h.HardBudget) {
				t.Fatalf("%+v", h)
			}
		})
	}
}

func TestCompileRoute(t *testing.T) {
	mk := func(plugs string) *gateway.RouteInfo {
		var p manifest.Plugins
		if err := json.Unmarshal([]byte(plugs), &p); err != nil {
			t.Fatal(err)
		}
		tr, _, err := plugins.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		return &gateway.RouteInfo{Route: &route.Route{ID: "gw/r"}, Transforms: tr}
	}
	rp, err := compileRoute(mk(`{"limit-req":{"rate":5,"burst":2},"limit-count":{"count":100,"time_window":60,"key":"consumer_name"},
	  "ai-rate-limiting":{"limit":1000,"time_window":3600,"limit_strategy":"completion_tokens"}}`), "p")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*policy{}
	for _, p := range rp.list {
		got[p.rule.Policy] = p
	}
	if r := got["limit-req"]; r == nil || r.rule.Algorithm != ratelimit.GCRA || r.rule.Limit != 5 || r.rule.Burst != 2 || r.code != 503 {
		t.Fatalf("limit-req %+v", r)
	}
	if r := got["limit-count"]; r == nil || r.rule.Window != time.Minute || r.rule.Limit != 100 {
		t.Fatalf("limit-count %+v", r)
	}
	if r := got["ai-rate-limiting"]; r == nil || !r.tokens || r.strategy != "completion_tokens" || r.code != 429 {
		t.Fatalf("ai-rate-limiting %+v", r)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	if k := got["limit-req"].key(req, nil); k != "p/gw/r/ip:10.1.2.3" {
		t.Fatalf("remote_addr key %q", k)
	}
	if k := got["limit-count"].key(req, &gateway.Request{Consumer: "alice"}); k != "p/gw/r/consumer:alice" {
		t.Fatalf("consumer key %q", k)
	}
	for _, bad := range []string{`{"limit-req":{"rate":0}}`, `{"limit-count":{"count":5}}`, `{"limit-conn":{"conn":1}}`} {
		if _, err := compileRoute(mk(bad), "p"); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

func TestTokensForAndEventEnd(t *testing.T) {
	if tokensFor("total_tokens", 10, 20) != 30 || tokensFor("prompt_tokens", 10, 20) != 10 || tokensFor("completion_tokens", 10, 20) != 20 || tokensFor("prompt_tokens", 0, 5) != 1 {
		t.Fatal("tokensFor")
	}
	if eventEnd([]byte("data: x\n\ndata: y")) != 9 || eventEnd([]byte("data: x\r\n\r\n")) != 11 || eventEnd([]byte("data: x\n")) != -1 {
		t.Fatal("eventEnd")
	}
}
