// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	stages "github.com/dsp-ai/fd2/caddymodules/pipeline"
	"github.com/dsp-ai/fd2/dsp/reqbody"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// testBodyStats (`fd2_test_body`) records, per X-Test-Body header, what the stages after it did to the
// request body.
type testBodyStats struct{}

var bodyStats sync.Map // X-Test-Body → reqbody.Stats

func init() {
	caddy.RegisterModule(testBodyStats{})
	httpcaddyfile.RegisterHandlerDirective("fd2_test_body", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		h.Next()
		return testBodyStats{}, nil
	})
}

func (testBodyStats) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.fd2_test_body", New: func() caddy.Module { return new(testBodyStats) }}
}

func (testBodyStats) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	x := stages.ExchangeOf(r) // the stages after this one share it
	err := next.ServeHTTP(w, r)
	if st := x.BodyStats(); st != nil {
		bodyStats.Store(r.Header.Get("X-Test-Body"), *st)
	}
	return err
}

// TestBodyReadOnceParsedTwiceAtMost (issue 13): an inference request on a route with a token limit and a
// prompt plugin is read from the client once, under one cap, and the stages make at most two passes over
// the whole JSON document between them (before the plan and exchange: three reads under three caps and at
// least five full parses).
func TestBodyReadOnceParsedTwiceAtMost(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "budget", `{"project_id":"budget","modules":[
	  {"module_type":"api_gateway","name":"gw","config":{"routes":[],"global_plugins":{
	    "ai-rate-limiting":{"limit":1000000,"time_window":60},
	    "ai-prompt-decorator":{"prepend":[{"role":"system","content":"Answer briefly."}]}}}},
	  {"module_type":"inference_endpoint","name":"llm","config":{"endpoint_url":"http://`+hostOf(llm)+`/v1","model_name":"fake-gpt"}}]}`)
	f := startFD2(t, "manifests file "+dir, `
:{{HTTP}} {
	{{LOG}}
	route {
		fd2_test_body
		dsp_manifest
		dsp_auth
		dsp_ratelimit
		dsp_dispatch
	}
}`)
	for _, tc := range []struct {
		name, body string
		maxParses  int
	}{
		{"model named", `{"model":"fake-gpt","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`, 1},
		{"default model", `{"messages":[{"role":"user","content":"hi"}]}`, 1},
		{"stream", `{"model":"fake-gpt","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", f.url("/budget/llm/v1/chat/completions"), tc.body, "X-Test-Body", tc.name)
			expectStatus(t, r, 200)
			// The record is stored when the handler chain returns, which can be just after the client has the
			// whole response (dsp_manifest flushes it first).
			v, ok := bodyStats.Load(tc.name)
			for deadline := time.Now().Add(2 * time.Second); !ok && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				v, ok = bodyStats.Load(tc.name)
			}
			if !ok {
				t.Fatal("no body record: no stage read the body through the exchange")
			}
			st := v.(reqbody.Stats)
			t.Logf("reads %d, full parses %d", st.Reads, st.Parses)
			if st.Reads != 1 {
				t.Errorf("body read %d times from the client, want 1", st.Reads)
			}
			if st.Parses > 2 || st.Parses > tc.maxParses {
				t.Errorf("%d passes over the whole JSON body, want at most %d (and never more than 2)", st.Parses, tc.maxParses)
			}
		})
	}
}
