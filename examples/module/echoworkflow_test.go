// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package echoworkflow

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/moduletest"
)

// types is what an FD2 build with this module serves, for moduletest.
var types = moduletest.Types{"echo_workflow": func() moduletest.Type { return new(Module) }}

func compile(t *testing.T, manifest string) *moduletest.Project {
	t.Helper()
	p, err := moduletest.Compile("", []byte(manifest), types)
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	return p
}

const good = `{"project_id":"shop","modules":[{"module_type":"echo_workflow","name":"greeter","config":{"greeting":"hello"}}]}`

func TestRun(t *testing.T) {
	p := compile(t, good)
	cases := []struct {
		name      string
		method    string
		path      string
		body      string
		principal *auth.Principal
		limit     int64
		wantCode  int
		wantError string // FD2 error code; "" for an answer
		wantAllow string
		result    string // the runs counter that moves
	}{
		{name: "run", method: "POST", path: "/shop/greeter/run", body: `{"order":42}`,
			principal: &auth.Principal{Consumer: "alice"}, wantCode: 200, result: "ok"},
		{name: "run without authentication", method: "POST", path: "/shop/greeter/run", body: `{}`, wantCode: 200, result: "ok"},
		{name: "not a JSON object", method: "POST", path: "/shop/greeter/run", body: `[1,2]`, wantCode: 400,
			wantError: "invalid_request", result: "invalid_request"},
		{name: "no body", method: "POST", path: "/shop/greeter/run", wantCode: 400, wantError: "invalid_request", result: "invalid_request"},
		{name: "body over the cap", method: "POST", path: "/shop/greeter/run", body: `{"order":42}`, limit: 5, wantCode: 413,
			wantError: "request_too_large", result: "request_too_large"},
		{name: "wrong method", method: "GET", path: "/shop/greeter/run", wantCode: 405, wantError: "method_not_allowed", wantAllow: "POST"},
		{name: "unknown path", method: "POST", path: "/shop/greeter/walk", body: `{}`, wantCode: 404, wantError: "not_found"},
		{name: "module root", method: "POST", path: "/shop/greeter", body: `{}`, wantCode: 404, wantError: "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []moduletest.Option
			if tc.principal != nil {
				opts = append(opts, moduletest.WithPrincipal(tc.principal))
			}
			if tc.limit > 0 {
				opts = append(opts, moduletest.WithBodyLimit(tc.limit))
			}
			var before float64
			if tc.result != "" {
				before = testutil.ToFloat64(runs.WithLabelValues("shop", "greeter", tc.result))
			}
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			r.Header.Set("X-Request-Id", "req-7")
			res := p.Serve(r, opts...)
			if res.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", res.Code, tc.wantCode, res.Body)
			}
			if tc.result != "" {
				if got := testutil.ToFloat64(runs.WithLabelValues("shop", "greeter", tc.result)); got != before+1 {
					t.Errorf("fd2_echo_workflow_runs_total{result=%q} moved by %v, want 1", tc.result, got-before)
				}
			}
			if tc.wantError != "" {
				var he caddyhttp.HandlerError
				if !errors.As(res.Err, &he) || he.StatusCode != tc.wantCode {
					t.Fatalf("Serve returned %v, want a caddyhttp.HandlerError with status %d", res.Err, tc.wantCode)
				}
				var e struct {
					Error struct{ Code, Type, RequestID string } `json:"error"`
				}
				if err := json.Unmarshal(res.Body.Bytes(), &e); err != nil || e.Error.Code != tc.wantError {
					t.Fatalf("error body %s (%v), want code %q", res.Body, err, tc.wantError)
				}
				if got := res.Header().Get("Allow"); got != tc.wantAllow {
					t.Fatalf("Allow %q, want %q", got, tc.wantAllow)
				}
				return
			}
			if res.Err != nil {
				t.Fatalf("Serve: %v", res.Err)
			}
			var got struct {
				Greeting, Project, Module, Consumer string
				RequestID                           string `json:"request_id"`
				Input                               map[string]any
			}
			if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %s: %v", res.Body, err)
			}
			var wantInput map[string]any
			_ = json.Unmarshal([]byte(tc.body), &wantInput)
			wantConsumer := ""
			if tc.principal != nil {
				wantConsumer = tc.principal.Consumer
			}
			if got.Greeting != "hello" || got.Project != "shop" || got.Module != "greeter" || got.Consumer != wantConsumer ||
				got.RequestID != "req-7" || len(got.Input) != len(wantInput) || (wantInput["order"] != nil && got.Input["order"] != 42.0) {
				t.Fatalf("answer %s", res.Body)
			}
			if ct := res.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

// A bad config is a load-time error: the version still loads, the warning names the field, and the
// module's routes answer 503 route_misconfigured.
func TestBadConfig(t *testing.T) {
	long := strings.Repeat("é", MaxGreetingLength+1)
	cases := []struct{ name, config, want string }{
		{"missing greeting", `{}`, `field "greeting": required`},
		{"blank greeting", `{"greeting":"  "}`, `field "greeting": required`},
		{"typo", `{"greting":"hi"}`, `unknown field "greting"`},
		{"wrong type", `{"greeting":7}`, `field "greeting": want string`},
		{"too long", `{"greeting":"` + long + `"}`, `longer than 200 characters`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, `{"project_id":"shop","modules":[{"module_type":"echo_workflow","name":"greeter","config":`+tc.config+`}]}`)
			if !strings.Contains(strings.Join(p.Warnings, "\n"), tc.want) {
				t.Fatalf("warnings %q, want one containing %q", p.Warnings, tc.want)
			}
			if rt := p.Match("POST", "/shop/greeter/run"); rt == nil || rt.Err == nil {
				t.Fatalf("route plan %+v: want a load-time error", rt)
			}
			res := p.Serve(httptest.NewRequest("POST", "/shop/greeter/run", strings.NewReader(`{}`)))
			if res.Code != http.StatusServiceUnavailable || !strings.Contains(res.Body.String(), `"route_misconfigured"`) {
				t.Fatalf("status %d %s, want 503 route_misconfigured", res.Code, res.Body)
			}
		})
	}
	// The greeting's bound counts characters, not bytes.
	ok := strings.Repeat("é", MaxGreetingLength)
	if p := compile(t, `{"project_id":"shop","modules":[{"module_type":"echo_workflow","name":"greeter","config":{"greeting":"`+ok+`"}}]}`); len(p.Warnings) != 0 {
		t.Fatalf("a %d-character greeting was refused: %q", MaxGreetingLength, p.Warnings)
	}
}
