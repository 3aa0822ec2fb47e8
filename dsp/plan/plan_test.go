// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plan

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/ratelimit"
	"github.com/dsp-ai/fd2/dsp/reqbody"
	"github.com/dsp-ai/fd2/dsp/route"
)

// planDoc is a project with: a good jwt-auth + limit-count route, a route whose limit config is unusable,
// a route whose auth plugin FD2 does not implement, an ai-proxy route, an inference module, a module of a
// type nobody serves, and a module whose config its type rejects.
const planDoc = `{"project_id":"p","modules":[
 {"module_type":"api_gateway","name":"gw","config":{
  "consumer":{"username":"alice","plugins":{"jwt-auth":{"key":"k","secret":"s"}}},
  "routes":[
   {"name":"good","uri":"/p/good","upstream":{"nodes":{"127.0.0.1:9":1}},
    "plugins":{"jwt-auth":{},"limit-count":{"count":5,"time_window":60}}},
   {"name":"badlimit","uri":"/p/badlimit","upstream":{"nodes":{"127.0.0.1:9":1}},"plugins":{"limit-req":{"rate":"fast"}}},
   {"name":"basic","uri":"/p/basic","upstream":{"nodes":{"127.0.0.1:9":1}},"plugins":{"basic-auth":{}}},
   {"name":"ai","uri":"/p/ai","plugins":{"ai-proxy":{"provider":"openai"}}}]}},
 {"module_type":"inference_endpoint","name":"llm","config":{"endpoint_url":"http://127.0.0.1:9/v1"}},
 {"module_type":"backup_recovery","name":"backup","config":{}},
 {"module_type":"langgraph_workflow","name":"flow","config":{"graph":"x"}}]}`

func compilePlan(t *testing.T, o Options) *Project {
	t.Helper()
	p, err := Compile("p", []byte(planDoc), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func routeByID(t *testing.T, p *Project, id string) *Route {
	t.Helper()
	for rt, pr := range p.Routes {
		if rt.ID == id {
			return pr
		}
	}
	t.Fatalf("no route %s", id)
	return nil
}

func TestCompilePlans(t *testing.T) {
	served := map[string]bool{"inference_endpoint": true, "langgraph_workflow": true}
	var aiChecked int
	p := compilePlan(t, Options{
		CheckModule: func(s *ModuleSpec) (bool, error) {
			if !served[s.Type()] {
				return false, nil
			}
			if s.Type() == "langgraph_workflow" {
				var c struct {
					Greeting string `json:"greeting"`
				}
				return true, s.Decode(&c)
			}
			return true, nil
		},
		CheckAIProxy: func(manifest.Plugins) error { aiChecked++; return nil },
	})

	good := routeByID(t, p, "gw/good")
	if good.Err != nil || good.Auth == nil || good.Auth.JWT == nil || len(good.Limits) != 1 ||
		good.Limits[0].Rule.Policy != "limit-count" || good.Target.Kind != TargetProxy || good.Series == nil {
		t.Fatalf("good route plan: %+v", good)
	}
	if p.Consumers == nil {
		t.Fatal("consumers not decoded")
	}
	for id, want := range map[string]string{"gw/badlimit": "limit-req", "gw/basic": "basic-auth"} {
		pr := routeByID(t, p, id)
		if pr.Err == nil || !strings.Contains(pr.Err.Error(), want) || errors.Is(pr.Err, ErrModuleTypeUnavailable) {
			t.Errorf("%s: err %v, want a config error naming %s", id, pr.Err, want)
		}
		if !hasWarning(p, id, want, "503") {
			t.Errorf("%s: no load-time warning naming %s: %q", id, want, p.Warnings)
		}
	}
	if ai := routeByID(t, p, "gw/ai"); ai.Err != nil || ai.Target.Kind != TargetAIProxy || aiChecked != 1 {
		t.Errorf("ai-proxy route: %+v (checked %d times)", ai, aiChecked)
	}
	llm := routeByID(t, p, "llm")
	if llm.Err != nil || llm.Target.Kind != TargetModule || llm.Target.Module.Name() != "llm" {
		t.Errorf("inference module route: %+v", llm)
	}
	if b := routeByID(t, p, "backup"); !errors.Is(b.Err, ErrModuleTypeUnavailable) || !hasWarning(p, "backup", "501") {
		t.Errorf("unserved type: err %v, warnings %q", b.Err, p.Warnings)
	}
	if f := routeByID(t, p, "flow"); f.Err == nil || !strings.Contains(f.Err.Error(), `unknown field "graph"`) {
		t.Errorf("module config error: %v", f.Err)
	}
	if got := p.RoutesOf("llm"); len(got) != 1 || got[0] != llm {
		t.Errorf("RoutesOf(llm) = %v", got)
	}
	if len(p.ModuleOrder) != 3 {
		t.Errorf("modules %v, want llm, backup, flow", p.ModuleOrder)
	}
}

func hasWarning(p *Project, subs ...string) bool {
	for _, w := range p.Warnings {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(w, s)
		}
		if all {
			return true
		}
	}
	return false
}

// TestBadConsumersFailAuthRoutesOnly: consumers that do not decode fail every route with auth plugins at
// load time, and only those.
func TestBadConsumersFailAuthRoutesOnly(t *testing.T) {
	doc := strings.Replace(planDoc, `{"key":"k","secret":"s"}`, `{"key":"k"}`, 1)
	p, err := Compile("p", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr := routeByID(t, p, "gw/good"); pr.Err == nil || !strings.Contains(pr.Err.Error(), "consumer") {
		t.Errorf("auth route with bad consumers: %v", pr.Err)
	}
	if pr := routeByID(t, p, "gw/ai"); pr.Err != nil {
		t.Errorf("route without auth: %v", pr.Err)
	}
}

func TestModuleSpecDecode(t *testing.T) {
	type cfg struct {
		Greeting string `json:"greeting"`
		Count    int    `json:"count"`
	}
	for raw, want := range map[string]string{
		`{"greeting":"hi","count":2}`: "",
		``:                            "",
		`null`:                        "",
		`{"greting":"hi"}`:            `unknown field "greting"`,
		`{"count":"two"}`:             `field "count"`,
		`{"count":1} {"count":2}`:     "trailing data",
	} {
		var c cfg
		err := (&ModuleSpec{Module: &manifest.Module{Name: "m", Config: []byte(raw)}}).Decode(&c)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", raw, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: err %v, want one containing %q", raw, err, want)
		}
	}
}

func TestExchange(t *testing.T) {
	x := NewExchange(timeZero(), "bad id with spaces")
	if id := x.RequestID(); id == "bad id with spaces" || len(id) != 36 {
		t.Errorf("request id %q: want a fresh UUID for an insane client id", id)
	}
	x.Path = "/p/llm/v1/chat/completions"
	x.Route = &Route{Route: &route.Route{ID: "llm", Module: "llm", StripPrefix: "/p/llm"}}
	if got := x.Rest(); got != "/v1/chat/completions" {
		t.Errorf("Rest = %q", got)
	}
	x.Path = "/p/llm"
	if got := x.Rest(); got != "/" {
		t.Errorf("Rest of the module root = %q", got)
	}
	if _, ok := x.Usage.Usage(); ok {
		t.Error("usage reported before any report")
	}
	x.Usage.Report(ratelimit.Usage{Prompt: 3, Completion: 4, Total: 7})
	x.Usage.Report(ratelimit.Usage{Prompt: 1, Completion: 1, Total: 2}) // a fallback's call adds up
	if u, ok := x.Usage.Usage(); !ok || u != (ratelimit.Usage{Prompt: 4, Completion: 5, Total: 9}) {
		t.Errorf("usage %+v %v", u, ok)
	}
	// The body is read once, under the exchange's cap, and every later reader sees the same bytes.
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	x.BodyLimit = 4
	if _, err := x.Body(r); !errors.Is(err, reqbody.ErrTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
	r = httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	x.BodyLimit = 1 << 10
	b1, err := x.Body(r)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := x.Body(r)
	rest, _ := io.ReadAll(r.Body)
	if string(b1) != `{"a":1}` || &b1[0] != &b2[0] || string(rest) != `{"a":1}` {
		t.Errorf("body %q / %q / %q", b1, b2, rest)
	}
}

func timeZero() (t time.Time) { return t }
func TestMeterBudgetAndClaim(t *testing.T) {
	var m Meter
	if m.Budget() != 0 || m.Claimed() {
		t.Fatal("a new meter has a budget or a claim")
	}
	m.Limit(42)
	m.Claim()
	if m.Budget() != 42 || !m.Claimed() {
		t.Fatalf("budget %d claimed %v", m.Budget(), m.Claimed())
	}
}
