// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package moduletest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/moduletest"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/reqbody"
)

// greeter is a tiny module type: config {"word": "..."} (required), POST …/say answers the word, the
// consumer, the rest of the path and the body; GET …/fail fails with an apierr; GET …/late writes, then
// fails.
type greeter struct {
	Word       string `json:"word"`
	configures int
}

func (g *greeter) Configure(spec *plan.ModuleSpec) error {
	g.configures++
	if err := spec.Decode(g); err != nil {
		return err
	}
	if g.Word == "" {
		return errors.New("field \"word\": required")
	}
	return nil
}

func (g *greeter) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	switch x.Rest() {
	case "/fail":
		return apierr.New(http.StatusConflict, "greeter_busy", "the greeter is busy")
	case "/late":
		w.WriteHeader(http.StatusAccepted)
		return errors.New("broke off after the header")
	case "/plain":
		return errors.New("dial tcp 10.0.0.1:80: connection refused")
	}
	body, err := x.Body(r)
	var tl *reqbody.TooLargeError
	if errors.As(err, &tl) {
		return apierr.Wrap(http.StatusRequestEntityTooLarge, "request_too_large", "body too large", err)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"word": g.Word, "consumer": x.Consumer(), "rest": x.Rest(),
		"body": string(body), "configures": g.configures, "request_id": x.RequestID(), "project": x.ProjectID})
}

func (g *greeter) Health(context.Context) error {
	if g.Word == "sick" {
		return errors.New("feeling sick")
	}
	return nil
}

var types = moduletest.Types{"greeter": func() moduletest.Type { return new(greeter) }}

const manifest = `{"project_id":"p","modules":[
 {"module_type":"greeter","name":"hello","config":{"word":"hi"}},
 {"module_type":"greeter","name":"typo","config":{"wrod":"hi"}},
 {"module_type":"greeter","name":"empty","config":{}},
 {"module_type":"greeter","name":"sick","config":{"word":"sick"}},
 {"module_type":"greeter","name":"off","status":"disabled","config":{"word":"hi"}},
 {"module_type":"backup_recovery","name":"backups","config":{}},
 {"module_type":"api_gateway","name":"gw","config":{"routes":[{"name":"r","uri":"/p/explicit","upstream":{"nodes":{"127.0.0.1:9":1}}}]}}
]}`

func compile(t *testing.T) *moduletest.Project {
	t.Helper()
	p, err := moduletest.Compile("", []byte(manifest), types)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func TestServe(t *testing.T) {
	p := compile(t)
	cases := []struct {
		name      string
		method    string
		path      string
		body      string
		opts      []moduletest.Option
		wantCode  int
		wantInErr string // an error code of FD2's body ("" for a module answer)
		wantErr   bool   // Result.Err set
		check     func(t *testing.T, got map[string]any)
	}{
		{name: "module answers", method: "POST", path: "/p/hello/say", body: `{"q":1}`,
			opts: []moduletest.Option{moduletest.WithPrincipal(&auth.Principal{Consumer: "alice"})}, wantCode: 200,
			check: func(t *testing.T, got map[string]any) {
				want := map[string]any{"word": "hi", "consumer": "alice", "rest": "/say", "body": `{"q":1}`, "configures": 1.0,
					"request_id": "rid-1", "project": "p"}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s = %v, want %v", k, got[k], v)
					}
				}
			}},
		{name: "no principal", method: "POST", path: "/p/hello/say", wantCode: 200,
			check: func(t *testing.T, got map[string]any) {
				if got["consumer"] != "" {
					t.Errorf("consumer = %v, want none", got["consumer"])
				}
			}},
		{name: "body over the cap", method: "POST", path: "/p/hello/say", body: `{"q":12345}`,
			opts: []moduletest.Option{moduletest.WithBodyLimit(4)}, wantCode: 413, wantInErr: "request_too_large", wantErr: true},
		{name: "module error rendered", method: "GET", path: "/p/hello/fail", wantCode: 409, wantInErr: "greeter_busy", wantErr: true},
		{name: "plain error is a generic 500", method: "GET", path: "/p/hello/plain", wantCode: 500, wantInErr: "internal_error", wantErr: true},
		{name: "error after the header keeps the response", method: "GET", path: "/p/hello/late", wantCode: 202, wantErr: true},
		{name: "unknown field is a misconfigured route", method: "GET", path: "/p/typo/x", wantCode: 503, wantInErr: "route_misconfigured"},
		{name: "validation error is a misconfigured route", method: "GET", path: "/p/empty/x", wantCode: 503, wantInErr: "route_misconfigured"},
		{name: "unserved type", method: "GET", path: "/p/backups/x", wantCode: 501, wantInErr: "module_type_unavailable"},
		{name: "disabled module is not routed", method: "GET", path: "/p/off/x", wantCode: 404, wantInErr: "route_not_found"},
		{name: "unknown module", method: "GET", path: "/p/nobody/x", wantCode: 404, wantInErr: "route_not_found"},
		{name: "explicit route is refused", method: "GET", path: "/p/explicit", wantCode: 500, wantInErr: "internal_error", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			r.Header.Set("X-Request-Id", "rid-1")
			res := p.Serve(r, tc.opts...)
			if res.Code != tc.wantCode {
				t.Fatalf("status %d, want %d; body %s", res.Code, tc.wantCode, res.Body)
			}
			if (res.Err != nil) != tc.wantErr {
				t.Fatalf("Err = %v, want set: %v", res.Err, tc.wantErr)
			}
			if res.Exchange.Status != tc.wantCode && tc.wantInErr == "" {
				t.Errorf("exchange status %d, want %d", res.Exchange.Status, tc.wantCode)
			}
			var got map[string]any
			if tc.wantCode == 202 {
				if res.Body.Len() != 0 {
					t.Fatalf("an error was rendered after the module's header: %s", res.Body)
				}
				return
			}
			if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", res.Body, err)
			}
			if tc.wantInErr != "" {
				e, _ := got["error"].(map[string]any)
				if e["code"] != tc.wantInErr || e["request_id"] != "rid-1" || res.Header().Get("X-Request-Id") != "rid-1" {
					t.Fatalf("error body %s (X-Request-Id %q), want code %s and request id rid-1", res.Body, res.Header().Get("X-Request-Id"), tc.wantInErr)
				}
				if strings.Contains(res.Body.String(), "10.0.0.1") {
					t.Fatalf("an internal cause reached the client: %s", res.Body)
				}
				return
			}
			tc.check(t, got)
		})
	}
}

// A bad config is a load-time error: listed in the warnings and carried by the route, naming the field.
func TestLoadTimeErrors(t *testing.T) {
	p := compile(t)
	cases := []struct {
		name, path, want string
		unavailable      bool
	}{
		{name: "unknown field", path: "/p/typo/x", want: `module "typo" (greeter): decoding config: unknown field "wrod"`},
		{name: "validation", path: "/p/empty/x", want: `module "empty" (greeter): field "word": required`},
		{name: "unserved type", path: "/p/backups/x", want: `no module type "backup_recovery" is registered`, unavailable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := p.Match("GET", tc.path)
			if rt == nil || rt.Err == nil || !strings.Contains(rt.Err.Error(), tc.want) {
				t.Fatalf("route %s: plan %+v, want an Err containing %q", tc.path, rt, tc.want)
			}
			if errors.Is(rt.Err, plan.ErrModuleTypeUnavailable) != tc.unavailable {
				t.Fatalf("Err %v: ErrModuleTypeUnavailable %v, want %v", rt.Err, !tc.unavailable, tc.unavailable)
			}
			if !strings.Contains(strings.Join(p.Warnings, "\n"), tc.want) {
				t.Fatalf("warnings %q do not list %q", p.Warnings, tc.want)
			}
			if _, err := p.Module(rt.Module); err == nil {
				t.Fatalf("module %s was built despite its error", rt.Module)
			}
		})
	}
	if rt := p.Match("GET", "/p/hello/x"); rt == nil || rt.Err != nil {
		t.Fatalf("the good module's route: %+v", rt)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"type outside the enum and not in Types", `{"project_id":"p","modules":[{"module_type":"echo","name":"e","config":{}}]}`, `unknown module_type "echo"`},
		{"not a manifest", `[]`, "JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := moduletest.Compile("p", []byte(tc.doc), types); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	got := compile(t).Health(context.Background())
	if got["hello"] != nil || got["sick"] == nil || got["typo"] == nil || got["empty"] == nil {
		t.Fatalf("health %v: want hello healthy, sick, typo and empty failing", got)
	}
	if _, ok := got["backups"]; !ok {
		t.Fatalf("health %v does not report the unserved module", got)
	}
}
