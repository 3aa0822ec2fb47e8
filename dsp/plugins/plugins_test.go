// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package plugins

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

func compile(t *testing.T, doc string) (*Transforms, []string) {
	t.Helper()
	var p manifest.Plugins
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	tr, warns, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tr, warns
}

func TestCompileClassifies(t *testing.T) {
	tr, warns := compile(t, `{"jwt-auth":{},"limit-req":{"rate":1},"prometheus":{},"serverless-pre-function":{},
	  "ip-restriction":{},"my-custom":{},"request-id":{}}`)
	if len(tr.Auth) != 1 || tr.Auth[0] != "jwt-auth" || len(tr.Limits) != 1 || tr.Denied != "ip-restriction" || tr.RequestID == nil {
		t.Fatalf("classification: %+v", tr)
	}
	joined := strings.Join(warns, "\n")
	for _, want := range []string{"serverless-pre-function", "my-custom", "ip-restriction"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no warning for %s: %v", want, warns)
		}
	}
	for _, bad := range []string{`{"cors":{"allow_origins":"*","allow_credential":true}}`, `{"proxy-rewrite":{"regex_uri":["("]}}`,
		`{"ai-prompt-template":{"templates":[]}}`, `{"response-rewrite":{"status_code":99}}`} {
		var p manifest.Plugins
		_ = json.Unmarshal([]byte(bad), &p)
		if _, _, err := Compile(p); err == nil {
			t.Errorf("Compile(%s) succeeded", bad)
		}
	}
}

func TestProxyRewrite(t *testing.T) {
	cases := []struct {
		name, doc, path, wantPath string
		check                     func(t *testing.T, r *http.Request)
	}{
		{"fixed uri and flat headers", `{"uri":"/openai/v1/chat/completions","host":"api.groq.com",
		  "headers":{"Authorization":"Bearer k","Accept-Encoding":"identity","X-Gone":""}}`, "/sas2py/convert", "/openai/v1/chat/completions",
			func(t *testing.T, r *http.Request) {
				if r.Host != "api.groq.com" || r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("X-Gone") != "" {
					t.Fatalf("headers %v host %s", r.Header, r.Host)
				}
			}},
		{"regex_uri with captures", `{"regex_uri":["^/p/rag/kb(.*)","/api/v1$1"]}`, "/p/rag/kb/query", "/api/v1/query", nil},
		{"regex_uri no match keeps path", `{"regex_uri":["^/nomatch(.*)","$1"]}`, "/p/x", "/p/x", nil},
		{"set/add/remove with nginx vars", `{"headers":{"set":{"Authorization":"Bearer $http_x_groq_api_key","X-Path":"$uri?$args"},
		  "add":{"X-Multi":"two"},"remove":["X-Gone"]},"method":"put"}`, "/p/x", "/p/x",
			func(t *testing.T, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer gsk-1" || r.Header.Get("X-Path") != "/p/x?a=1" {
					t.Fatalf("expanded headers: %v", r.Header)
				}
				if got := r.Header.Values("X-Multi"); len(got) != 2 || r.Header.Get("X-Gone") != "" || r.Method != "PUT" {
					t.Fatalf("add/remove/method: %v %s", r.Header, r.Method)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := compile(t, `{"proxy-rewrite":`+tc.doc+`}`)
			r := httptest.NewRequest("POST", "http://gw"+tc.path+"?a=1", nil)
			r.Header.Set("X-Groq-Api-Key", "gsk-1")
			r.Header.Set("X-Gone", "1")
			r.Header.Set("X-Multi", "one")
			if got := tr.ProxyRewrite.Path(r, tc.path); got != tc.wantPath {
				t.Fatalf("path = %q, want %q", got, tc.wantPath)
			}
			tr.ProxyRewrite.ApplyHeaders(r)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestPromptTemplate(t *testing.T) {
	tr, _ := compile(t, `{"ai-prompt-template":{"templates":[{"name":"converter","template":{"model":"m",
	  "messages":[{"role":"user","content":"Convert: {{user_input}} (lang {{lang}})"}],"max_tokens":"{{limit}}"}}]}}`)
	out, err := tr.PromptTemplate.Render([]byte(`{"template_name":"converter","user_input":"a \"q\"\nb","limit":64}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Messages []struct{ Content string } `json:"messages"`
		Max      json.Number                `json:"max_tokens"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("rendered JSON invalid: %v: %s", err, out)
	}
	if got.Messages[0].Content != "Convert: a \"q\"\nb (lang )" || got.Max != "64" {
		t.Fatalf("rendered %s", out)
	}
	for _, bad := range []string{`not json`, `{}`, `{"template_name":"other"}`} {
		if _, err := tr.PromptTemplate.Render([]byte(bad)); err == nil {
			t.Errorf("Render(%s) succeeded", bad)
		}
	}
}

func TestCORS(t *testing.T) {
	tr, _ := compile(t, `{"cors":{"allow_origins":"https://a.example,https://b.example","allow_credential":true,"expose_headers":"X-Request-Id"}}`)
	pre := httptest.NewRequest("OPTIONS", "/", nil)
	pre.Header.Set("Origin", "https://b.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	h := http.Header{}
	if !IsPreflight(pre) || !tr.CORS.Apply(pre, h) {
		t.Fatal("allowed preflight refused")
	}
	if h.Get("Access-Control-Allow-Origin") != "https://b.example" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Allow-Headers") != "authorization" || h.Get("Access-Control-Max-Age") != "5" {
		t.Fatalf("preflight headers %v", h)
	}
	other := httptest.NewRequest("POST", "/", nil)
	other.Header.Set("Origin", "https://evil.example")
	h = http.Header{}
	if tr.CORS.Apply(other, h) || h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", h)
	}
}

func TestRequestIDAndResponseRewrite(t *testing.T) {
	tr, _ := compile(t, `{"request-id":{"header_name":"x-trace","include_in_response":false},
	  "response-rewrite":{"status_code":201,"headers":{"set":{"X-A":"1"},"add":["X-B: 2"],"remove":["Content-Encoding"]}}}`)
	r := httptest.NewRequest("GET", "/", nil)
	h := http.Header{}
	id := tr.RequestID.Apply(r, h, "")
	if len(id) != 36 || r.Header.Get("X-Trace") != id || h.Get("X-Trace") != "" {
		t.Fatalf("request id %q, req %v, resp %v", id, r.Header, h)
	}
	r.Header.Set("X-Trace", "keep-me")
	if tr.RequestID.Apply(r, h, "") != "keep-me" {
		t.Fatal("client id not kept")
	}
	h = http.Header{"Content-Encoding": {"gzip"}}
	tr.Response.Apply(h)
	if h.Get("Content-Encoding") != "" || h.Get("X-A") != "1" || h.Get("X-B") != "2" || tr.Response.Status != 201 {
		t.Fatalf("response headers %v", h)
	}
	if a, b := NewUUID(), NewUUID(); a == b || a[14] != '4' {
		t.Fatalf("uuids %s %s", a, b)
	}
}

func TestPromptDecorator(t *testing.T) {
	tr, _ := compile(t, `{"ai-prompt-decorator":{"prepend":[{"role":"system","content":"Be brief."}],"append":[{"role":"user","content":"Answer in French."}]},"ai-proxy":{}}`)
	if !tr.AIProxy {
		t.Fatal("ai-proxy not recognised")
	}
	out, err := tr.PromptDecorator.Apply([]byte(`{"model":"m","vendor_x":{"keep":1},"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		VendorX  map[string]int `json:"vendor_x"`
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 3 || got.Messages[0].Content != "Be brief." || got.Messages[1].Content != "hi" ||
		got.Messages[2].Content != "Answer in French." || got.VendorX["keep"] != 1 {
		t.Fatalf("decorated %s", out)
	}
	if _, err := tr.PromptDecorator.Apply([]byte(`[1]`)); err == nil {
		t.Fatal("a non-object body was decorated")
	}
}

// TestCompileGlobalPlugins: APISIX drops a global rule that fails its schema and the routes keep serving.
// FD2 does the same for a non-security global plugin (cors, request-id, response-rewrite, prometheus): a
// warning, and the route serves without it. A global plugin whose loss would change what the upstream gets
// (proxy-rewrite, prompt templates and decorators) or that guards the route still fails closed, and a
// route's own broken plugin always does.
func TestCompileGlobalPlugins(t *testing.T) {
	const (
		badCORS      = `"cors":{"allow_origins":"*","allow_credential":true}`
		badRequestID = `"request-id":{"header_name":5}`
		badResponse  = `"response-rewrite":{"status_code":99}`
		badRewrite   = `"proxy-rewrite":{"regex_uri":["("]}`
		badTemplate  = `"ai-prompt-template":{"templates":[]}`
		badDecorator = `"ai-prompt-decorator":{"prepend":"x"}`
	)
	tests := []struct {
		name    string
		plugins string
		global  []string
		wantErr bool
		check   func(t *testing.T, tr *Transforms)
	}{
		{name: "global cors that fails is dropped", plugins: `{` + badCORS + `,"request-id":{}}`, global: []string{"cors", "request-id"},
			check: func(t *testing.T, tr *Transforms) {
				if tr.CORS != nil || tr.RequestID == nil {
					t.Errorf("CORS %+v RequestID %+v: want the broken cors gone and request-id kept", tr.CORS, tr.RequestID)
				}
			}},
		{name: "global request-id that fails is dropped", plugins: `{` + badRequestID + `}`, global: []string{"request-id"},
			check: func(t *testing.T, tr *Transforms) {
				if tr.RequestID != nil {
					t.Error("broken request-id kept")
				}
			}},
		{name: "global response-rewrite that fails is dropped", plugins: `{` + badResponse + `}`, global: []string{"response-rewrite"},
			check: func(t *testing.T, tr *Transforms) {
				if tr.Response != nil {
					t.Error("broken response-rewrite kept")
				}
			}},
		{name: "a valid global cors applies", plugins: `{"cors":{"allow_origins":"https://a.example"}}`, global: []string{"cors"},
			check: func(t *testing.T, tr *Transforms) {
				if tr.CORS == nil || !tr.CORS.Origins["https://a.example"] {
					t.Errorf("CORS = %+v", tr.CORS)
				}
			}},
		{name: "a route's own broken cors fails the route", plugins: `{` + badCORS + `}`, wantErr: true},
		{name: "a route's cors over a global one is the route's", plugins: `{` + badCORS + `,"request-id":{}}`, global: []string{"request-id"}, wantErr: true},
		{name: "global proxy-rewrite fails closed", plugins: `{` + badRewrite + `}`, global: []string{"proxy-rewrite"}, wantErr: true},
		{name: "global ai-prompt-template fails closed", plugins: `{` + badTemplate + `}`, global: []string{"ai-prompt-template"}, wantErr: true},
		{name: "global ai-prompt-decorator fails closed", plugins: `{` + badDecorator + `}`, global: []string{"ai-prompt-decorator"}, wantErr: true},
		{name: "global ip-restriction still denies", plugins: `{"ip-restriction":{"whitelist":["10.0.0.0/8"]}}`, global: []string{"ip-restriction"},
			check: func(t *testing.T, tr *Transforms) {
				if tr.Denied != "ip-restriction" {
					t.Errorf("Denied = %q", tr.Denied)
				}
			}},
		{name: "global auth and limits stay enforced", plugins: `{"jwt-auth":{},"limit-count":{"count":"x"}}`, global: []string{"jwt-auth", "limit-count"},
			check: func(t *testing.T, tr *Transforms) {
				if len(tr.Auth) != 1 || len(tr.Limits) != 1 {
					t.Errorf("Auth %v Limits %v", tr.Auth, tr.Limits)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p manifest.Plugins
			if err := json.Unmarshal([]byte(tc.plugins), &p); err != nil {
				t.Fatal(err)
			}
			tr, warns, err := Compile(p, tc.global...)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Compile succeeded, want the route to fail closed (warnings %q)", warns)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			tc.check(t, tr)
			if strings.Contains(tc.name, "dropped") && !strings.Contains(strings.Join(warns, "\n"), "global plugin") {
				t.Errorf("no warning about the dropped global plugin: %q", warns)
			}
		})
	}
}
