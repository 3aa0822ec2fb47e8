// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

func TestRoutePolicies(t *testing.T) {
	decode := func(plugs string) ([]string, manifest.Plugins) {
		var p manifest.Plugins
		if err := json.Unmarshal([]byte(plugs), &p); err != nil {
			t.Fatal(err)
		}
		var names []string
		for n := range p {
			names = append(names, n)
		}
		return names, p
	}
	names, raw := decode(`{"limit-req":{"rate":5,"burst":2},"limit-count":{"count":100,"time_window":60,"key":"consumer_name"},
	  "ai-rate-limiting":{"limit":1000,"time_window":3600,"limit_strategy":"completion_tokens"}}`)
	list, err := RoutePolicies("p", "gw/r", names, raw)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Policy{}
	for _, p := range list {
		got[p.Rule.Policy] = p
	}
	if r := got["limit-req"]; r == nil || r.Rule.Algorithm != GCRA || r.Rule.Limit != 5 || r.Rule.Burst != 2 || r.Code != 503 {
		t.Fatalf("limit-req %+v", r)
	}
	if r := got["limit-count"]; r == nil || r.Rule.Window != time.Minute || r.Rule.Limit != 100 {
		t.Fatalf("limit-count %+v", r)
	}
	if r := got["ai-rate-limiting"]; r == nil || !r.Tokens || r.Strategy != "completion_tokens" || r.Code != 429 {
		t.Fatalf("ai-rate-limiting %+v", r)
	}
	req := httptest.NewRequest("GET", "/?team=red", nil)
	req.Header.Set("X-Team", "blue")
	in := KeyInput{Request: req, ClientIP: "10.1.2.3"}
	if k := got["limit-req"].Key.Key(in); k != "p/gw/r/ip:10.1.2.3" {
		t.Fatalf("remote_addr key %q", k)
	}
	if k := got["limit-count"].Key.Key(in); k != "p/gw/r/ip:10.1.2.3" {
		t.Fatalf("consumer key without a consumer %q", k)
	}
	in.Consumer = "alice"
	if k := got["limit-count"].Key.Key(in); k != "p/gw/r/consumer:alice" {
		t.Fatalf("consumer key %q", k)
	}
	for plugs, want := range map[string]string{
		`{"limit-count":{"count":1,"time_window":1,"key":"http_x_team"}}`:   "p/gw/r/http_x_team:blue",
		`{"limit-count":{"count":1,"time_window":1,"key":"arg_team"}}`:      "p/gw/r/arg_team:red",
		`{"limit-count":{"count":1,"time_window":1,"key_type":"constant"}}`: "p/gw/r/const",
	} {
		names, raw := decode(plugs)
		list, err := RoutePolicies("p", "gw/r", names, raw)
		if err != nil {
			t.Fatal(err)
		}
		if k := list[0].Key.Key(in); k != want {
			t.Errorf("%s: key %q, want %q", plugs, k, want)
		}
	}
	// Unusable configs are load-time errors naming the plugin.
	for _, bad := range []string{`{"limit-req":{"rate":0}}`, `{"limit-req":{"rate":0.5}}`, `{"limit-count":{"count":5}}`,
		`{"limit-conn":{"conn":1}}`, `{"limit-count":{"count":"x","time_window":1}}`} {
		names, raw := decode(bad)
		_, err := RoutePolicies("p", "r", names, raw)
		if err == nil || !strings.Contains(err.Error(), names[0]) {
			t.Errorf("%s: err %v, want one naming %s", bad, err, names[0])
		}
	}
}
