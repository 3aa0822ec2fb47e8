// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/source"
)

func init() {
	caddy.RegisterModule(testThirdParty{})
}

// testThirdParty stands for a third-party module type: its module_type is outside the Control Tower's enum.
type testThirdParty struct {
	Greeting string `json:"greeting"`
}

func (testThirdParty) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: ModuleNamespace + ".fd2test_third_party", New: func() caddy.Module { return new(testThirdParty) }}
}

func (m *testThirdParty) Configure(spec *plan.ModuleSpec) error {
	if err := spec.Decode(m); err != nil {
		return err
	}
	if m.Greeting == "" {
		return errors.New(`field "greeting": required`)
	}
	return nil
}

func (m *testThirdParty) Serve(http.ResponseWriter, *http.Request, *plan.Exchange) error { return nil }

// A registered module type outside the Control Tower's enum makes a valid manifest, its module gets a module
// route, and its Configure runs when the version compiles; an unregistered one keeps the manifest invalid.
func TestCompileThirdPartyType(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		wantErr  string // the manifest is invalid
		routeErr string // the module's route carries this error
	}{
		{name: "registered", doc: `{"project_id":"x","modules":[{"module_type":"fd2test_third_party","name":"tp","config":{"greeting":"hi"}}]}`},
		{name: "bad config", doc: `{"project_id":"x","modules":[{"module_type":"fd2test_third_party","name":"tp","config":{"greting":"hi"}}]}`,
			routeErr: `unknown field "greting"`},
		{name: "unregistered", doc: `{"project_id":"x","modules":[{"module_type":"fd2test_nobody","name":"tp","config":{}}]}`,
			wantErr: `unknown module_type "fd2test_nobody"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := CompileProject("x", []byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CompileProject: %v", err)
			}
			var found bool
			for rt, pr := range p.Routes {
				if rt.Module != "tp" {
					continue
				}
				found = true
				if pr.Target.Kind != plan.TargetModule {
					t.Fatalf("route %s: target %v, want a module target", rt.ID, pr.Target.Kind)
				}
				if got := errString(pr.Err); tc.routeErr == "" && got != "" || !strings.Contains(got, tc.routeErr) {
					t.Fatalf("route %s: Err %q, want %q", rt.ID, got, tc.routeErr)
				}
			}
			if !found {
				t.Fatalf("no route for module tp in %v", p.Table.Routes())
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func init() {
	caddy.RegisterModule(testHealth{})
}

// testHealth is a module type with a health check and a provisioning step that its config can make fail.
type testHealth struct {
	Healthy       bool `json:"healthy"`
	FailProvision bool `json:"fail_provision"`
}

func (testHealth) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: ModuleNamespace + ".fd2test_health", New: func() caddy.Module { return new(testHealth) }}
}

func (m *testHealth) Configure(spec *plan.ModuleSpec) error { return spec.Decode(m) }

func (m *testHealth) Provision(caddy.Context) error {
	if m.FailProvision {
		return errors.New("backing service at 10.0.0.7:9000 refused")
	}
	return nil
}

func (m *testHealth) Serve(http.ResponseWriter, *http.Request, *plan.Exchange) error { return nil }

func (m *testHealth) Health(context.Context) error {
	if !m.Healthy {
		return errors.New("backing service at 10.0.0.7:9000 is down")
	}
	return nil
}

// TestModuleHealth: the detailed health report lists the pooled version's built modules that have a health
// check (ok or unhealthy) and the ones that could not be built (unavailable), in fixed words; modules the
// compile refused (unserved type, bad config) are warnings, not health.
func TestModuleHealth(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	pool := NewPool(ctx, 4, zap.NewNop())
	p, err := CompileProject("h", []byte(`{"project_id":"h","modules":[
	  {"module_type":"fd2test_health","name":"good","config":{"healthy":true}},
	  {"module_type":"fd2test_health","name":"sick","config":{"healthy":false}},
	  {"module_type":"fd2test_health","name":"unbuilt","config":{"fail_provision":true}},
	  {"module_type":"fd2test_health","name":"typo","config":{"helthy":true}},
	  {"module_type":"backup_recovery","name":"backups","config":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	pp, err := pool.Acquire(p)
	if err != nil {
		t.Fatal(err)
	}
	defer pp.Release()
	if _, err := pp.Module("unbuilt"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("module whose Provision failed: %v", err)
	}
	got := map[string]string{}
	for _, m := range pool.moduleHealth(context.Background(), zap.NewNop()) {
		got[m.Module] = m.State
		if m.Project != "h" || m.Type != "fd2test_health" {
			t.Errorf("report %+v", m)
		}
	}
	want := map[string]string{"good": "ok", "sick": "unhealthy", "unbuilt": "unavailable"}
	if len(got) != len(want) {
		t.Fatalf("modules %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("module %s: state %q, want %q", k, got[k], v)
		}
	}
	rep := healthReport{Modules: pool.moduleHealth(context.Background(), zap.NewNop())}
	if rep.summarize(source.SourceStatus{Healthy: true, Projects: 1}); rep.Status != "degraded" {
		t.Errorf("status %q with an unhealthy module, want degraded", rep.Status)
	}
}
