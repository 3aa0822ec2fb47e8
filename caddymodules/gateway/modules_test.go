// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/dsp/plan"
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
			p, err := compileProject("x", []byte(tc.doc))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("compileProject: %v", err)
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
