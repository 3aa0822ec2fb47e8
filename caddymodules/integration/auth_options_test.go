// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/dsp-ai/fd2/internal/fakellm"
)

// The secret of the "opts" project's jwt-auth consumer; registered as a secret by the tests that mint with it.
const optsSecret = "opts-consumer-secret-5b1e9c"

// optsManifest is a project with one jwt-auth consumer (HS256, its own secret) and one jwt-auth route.
func optsManifest(upstream string) string {
	return `{"project_id":"opts","project_name":"opts","modules":[{"module_type":"api_gateway","name":"gw","config":{
	  "consumer":{"username":"opts-consumer","plugins":{"jwt-auth":{"key":"opts-key","secret":"` + optsSecret + `"}}},
	  "routes":[{"name":"r","uri":"/opts/r","upstream":{"scheme":"http","nodes":{"` + upstream + `":1}},
	    "plugins":{"jwt-auth":{},"proxy-rewrite":{"uri":"/echo/opts"}}}]}}]}`
}

// optsToken mints a token for the opts consumer; claims override (nil deletes) the defaults.
func optsToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	registerSecret(optsSecret)
	c := map[string]any{"key": "opts-key", "project": "opts", "sub": "opts-user", "iat": time.Now().Add(-time.Hour).Unix(),
		"nbf": nil, "rate_limit": nil, "roles": nil, "groups": nil}
	for k, v := range claims {
		c[k] = v
	}
	return mintJWS(t, corpus{}, optsSecret, c)
}

// TestAuthLeewayReload (issue 12 #10): a reload with a new dsp_auth leeway applies at once to manifest
// routes, although the project (and so its consumer index) outlives the reload: a token that expired 30 s
// ago is refused with leeway 5s, accepted after a reload to 2m, and refused again after a reload back.
func TestAuthLeewayReload(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "opts", optsManifest(hostOf(llm)))
	dsp := "manifests file " + dir
	site := func(leeway string) string {
		return fmt.Sprintf(`
:{{HTTP}} {
	{{LOG}}
	route {
		dsp_manifest
		dsp_auth {
			leeway %s
		}
		dsp_dispatch
	}
	handle_errors {
		dsp_error
	}
}
`, leeway)
	}
	tok := optsToken(t, map[string]any{"exp": time.Now().Add(-30 * time.Second).Unix()})
	fresh := optsToken(t, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	call := func(f *fd2, token string) resp {
		t.Helper()
		return do(t, "GET", f.url("/opts/r"), "", "Authorization", "Bearer "+token)
	}

	f := startFD2(t, dsp, site("5s"))
	expectStatus(t, call(f, fresh), 200) // the consumer index is built now, with leeway 5s
	r := call(f, tok)
	expectStatus(t, r, 401)
	if r.errorCode(t) != "invalid_token" {
		t.Fatalf("expired token: %s", r.body)
	}
	f.load(dsp, site("2m"))
	expectStatus(t, call(f, tok), 200)
	f.load(dsp, site("5s"))
	expectStatus(t, call(f, tok), 401)
}

// TestAuthRequireExpManifest (issue 12 #14): manifest jwt-auth routes accept a token without exp by
// default, as APISIX's jwt-auth does (exp is checked when present), refuse it with `dsp { require_exp on }`,
// and a reload switches at once both ways. A present exp is checked either way.
func TestAuthRequireExpManifest(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	dir := t.TempDir()
	writeManifest(t, dir, "opts", optsManifest(hostOf(llm)))
	noExp := optsToken(t, map[string]any{"exp": nil})
	expired := optsToken(t, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	fresh := optsToken(t, map[string]any{"exp": time.Now().Add(time.Hour).Unix()})
	call := func(f *fd2, token string) resp {
		t.Helper()
		return do(t, "GET", f.url("/opts/r"), "", "Authorization", "Bearer "+token)
	}
	lenient := "manifests file " + dir
	strict := lenient + "\n require_exp on"

	f := startFD2(t, lenient, authPipeline)
	expectStatus(t, call(f, noExp), 200)
	expectStatus(t, call(f, expired), 401)
	f.load(strict, authPipeline)
	r := call(f, noExp)
	expectStatus(t, r, 401)
	if r.errorCode(t) != "invalid_token" {
		t.Fatalf("token without exp: %s", r.body)
	}
	expectStatus(t, call(f, fresh), 200)
	expectStatus(t, call(f, expired), 401)
	f.load(lenient+"\n require_exp off", authPipeline)
	expectStatus(t, call(f, noExp), 200)
}

// TestAuthRequireExpStatic (issue 12 #14): a static `dsp_auth jwt` policy refuses tokens without exp by
// default and accepts them with `require_exp off`; an expired token is refused either way.
func TestAuthRequireExpStatic(t *testing.T) {
	requireIntegration(t)
	const secret = "static-require-exp-secret-77d2"
	registerSecret(secret)
	site := func(opt string) string {
		return fmt.Sprintf(`
:{{HTTP}} {
	{{LOG}}
	route /v1/* {
		dsp_auth {
			jwt {
				secret %s
				%s
			}
		}
		respond "ok" 200
	}
	handle_errors {
		dsp_error
	}
}
`, secret, opt)
	}
	noExp := mintJWS(t, corpus{}, secret, map[string]any{"exp": nil})
	expired := mintJWS(t, corpus{}, secret, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	fresh := mintJWS(t, corpus{}, secret, nil)
	call := func(f *fd2, token string) resp {
		t.Helper()
		return do(t, "GET", f.url("/v1/x"), "", "Authorization", "Bearer "+token)
	}

	f := startFD2(t, "", site(""))
	expectStatus(t, call(f, fresh), 200)
	r := call(f, noExp)
	expectStatus(t, r, 401)
	if r.errorCode(t) != "invalid_token" {
		t.Fatalf("token without exp: %s", r.body)
	}
	f.load("", site("require_exp off"))
	expectStatus(t, call(f, noExp), 200)
	expectStatus(t, call(f, expired), 401)
	f.load("", site("require_exp on"))
	expectStatus(t, call(f, noExp), 401)
}
