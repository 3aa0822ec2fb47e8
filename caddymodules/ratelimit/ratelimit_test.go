// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package ratelimit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/dsp/ratelimit"
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
		{"zone", "dsp_ratelimit {\n requests 1/s\n zone team-a.eu_1\n}", false},
		{"bad zone", "dsp_ratelimit {\n zone a/b\n}", true},
		{"zone needs a name", "dsp_ratelimit {\n zone\n}", true},
		{"duplicate zone", "dsp_ratelimit {\n zone a\n zone b\n}", true},
		{"unknown", "dsp_ratelimit {\n realm x\n}", true},
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
			if tc.name == "zone" && h.Zone != "team-a.eu_1" {
				t.Fatalf("zone %q", h.Zone)
			}
		})
	}
}

func TestTokensFor(t *testing.T) {
	if tokensFor("total_tokens", 10, 20) != 30 || tokensFor("prompt_tokens", 10, 20) != 10 || tokensFor("completion_tokens", 10, 20) != 20 || tokensFor("prompt_tokens", 0, 5) != 1 {
		t.Fatal("tokensFor")
	}
}

// TestStaticZones: static policies count per zone. Two handlers with the same `requests 2/h` and their own
// zones admit 2 each from one client; two handlers naming the same zone admit 2 between them. Both pairs
// use one store, as every handler of a process does.
func TestStaticZones(t *testing.T) {
	store := ratelimit.NewMemoryStore(nil)
	handler := func(zone string) *Handler {
		h := &Handler{Requests: "2/h", By: "ip", store: store, zone: zone, RejectedCode: 429, DefaultMaxTokens: 1024}
		if err := h.compileStatic(); err != nil {
			t.Fatal(err)
		}
		return h
	}
	admitted := func(h *Handler, n int) int {
		ok := 0
		for i := 0; i < n; i++ {
			req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), nil, nil)
			req.RemoteAddr = "10.9.8.7:1234"
			err := h.ServeHTTP(httptest.NewRecorder(), req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			var he caddyhttp.HandlerError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &he) && he.StatusCode == 429:
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		return ok
	}
	cases := []struct {
		name         string
		zoneA, zoneB string
		wantA, wantB int
	}{
		{"own positions", "@srv0#0", "@srv0#1", 2, 2},
		{"own named zones", "site-a", "site-b", 2, 2},
		{"one named zone", "shared", "shared", 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := handler(tc.zoneA), handler(tc.zoneB)
			if got := admitted(a, 3); got != tc.wantA {
				t.Fatalf("zone %s admitted %d of 3, want %d", tc.zoneA, got, tc.wantA)
			}
			if got := admitted(b, 3); got != tc.wantB {
				t.Fatalf("zone %s admitted %d of 3 after %s's, want %d", tc.zoneB, got, tc.zoneA, tc.wantB)
			}
		})
	}
}

// TestPositions: the default zone is the server's name and the handler's ordinal in that server; each
// server counts on its own, a new load (new server values) counts from zero again, so the same config
// gets the same zones, and a named server cannot pose as a zone name or another server's position.
func TestPositions(t *testing.T) {
	c := &positionCounter{n: map[any]int{}}
	load := func() []string {
		srv0, srv1 := new(int), new(int) // stand-ins for one load's *caddyhttp.Server values
		z := []string{c.next(srv0, "srv0"), c.next(srv1, "srv1"), c.next(srv0, "srv0"), c.next(srv1, "srv1")}
		c.forget(srv0)
		c.forget(srv1)
		return z
	}
	first, second := load(), load()
	want := []string{"@srv0#0", "@srv1#0", "@srv0#1", "@srv1#1"}
	for i := range want {
		if first[i] != want[i] || second[i] != want[i] {
			t.Fatalf("zones %v then %v, want %v both times", first, second, want)
		}
	}
	if len(c.n) != 0 {
		t.Fatalf("forgotten servers still counted: %v", c.n)
	}
	if z := c.next(new(int), "a#0/b"); z != "@a%230%2Fb#0" || validZone(z) {
		t.Fatalf("escaped position %q (valid as a named zone: %v)", z, validZone(z))
	}
	for _, z := range []string{"a", "team-a.eu_1", "A9"} {
		if !validZone(z) {
			t.Errorf("%q refused", z)
		}
	}
	for _, z := range []string{"", "a b", "a/b", "@srv0#0", "a:b", strings.Repeat("x", 129)} {
		if validZone(z) {
			t.Errorf("%q accepted", z)
		}
	}
}
