// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/dsp/auth"
	"github.com/dsp-ai/fd2/dsp/plan"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name    string
		input   string
		check   func(t *testing.T, h *Handler)
		wantErr bool
	}{
		{"empty", "dsp_auth", func(t *testing.T, h *Handler) {
			if h.APIKeys != nil || h.JWT != nil || h.Optional {
				t.Fatalf("%+v", h)
			}
		}, false},
		{"full", "dsp_auth {\n api_keys redis redis://r:6379/1\n jwt {\n secret s\n algorithms HS256 HS384\n public_key a.pem\n public_key b.pem\n issuer i\n audience a b\n }\n jwt_service_secret x\n leeway 5s\n cache_size 7\n optional\n}",
			func(t *testing.T, h *Handler) {
				if !h.APIKeys.Redis || h.APIKeys.RedisURL != "redis://r:6379/1" || h.JWT.Secret != "s" || len(h.JWT.Algorithms) != 2 ||
					len(h.JWT.PublicKeys) != 2 || len(h.JWT.Audience) != 2 || h.JWTServiceSecret != "x" ||
					time.Duration(h.Leeway) != 5*time.Second || h.CacheSize != 7 || !h.Optional {
					t.Fatalf("%+v %+v %+v", h, h.APIKeys, h.JWT)
				}
			}, false},
		{"file keys", "dsp_auth {\n api_keys file k.json\n}", func(t *testing.T, h *Handler) {
			if h.APIKeys.File != "k.json" {
				t.Fatal(h.APIKeys)
			}
		}, false},
		{"argument", "dsp_auth x", nil, true},
		{"duplicate", "dsp_auth {\n optional\n optional\n}", nil, true},
		{"bad leeway", "dsp_auth {\n leeway soon\n}", nil, true},
		{"bad cache size", "dsp_auth {\n cache_size -1\n}", nil, true},
		{"unknown store", "dsp_auth {\n api_keys s3\n}", nil, true},
		{"jwt needs a block", "dsp_auth {\n jwt x\n}", nil, true},
		{"unknown", "dsp_auth {\n realm x\n}", nil, true},
		{"require_exp off", "dsp_auth {\n jwt {\n secret s\n require_exp off\n }\n}", func(t *testing.T, h *Handler) {
			if h.JWT.RequireExp == nil || *h.JWT.RequireExp {
				t.Fatalf("%+v", h.JWT)
			}
		}, false},
		{"require_exp on", "dsp_auth {\n jwt {\n secret s\n require_exp on\n }\n}", func(t *testing.T, h *Handler) {
			if h.JWT.RequireExp == nil || !*h.JWT.RequireExp {
				t.Fatalf("%+v", h.JWT)
			}
		}, false},
		{"require_exp unset", "dsp_auth {\n jwt {\n secret s\n }\n}", func(t *testing.T, h *Handler) {
			if h.JWT.RequireExp != nil {
				t.Fatalf("%+v", h.JWT)
			}
		}, false},
		{"bad require_exp", "dsp_auth {\n jwt {\n secret s\n require_exp maybe\n }\n}", nil, true},
		{"require_exp needs a value", "dsp_auth {\n jwt {\n secret s\n require_exp\n }\n}", nil, true},
		{"duplicate require_exp", "dsp_auth {\n jwt {\n secret s\n require_exp on\n require_exp off\n }\n}", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := new(Handler)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	h := &Handler{JWT: &JWTConfig{Issuer: "x"}}
	if err := h.Validate(); err == nil {
		t.Fatal("a jwt policy without any key validated")
	}
}

func TestStaticOptionalAndPlaceholders(t *testing.T) {
	h := &Handler{Optional: true, JWT: &JWTConfig{Secret: "s"}, static: &auth.StaticPolicy{Optional: true,
		JWT: &auth.JWSVerifier{Algorithms: []string{"HS256"}, HMACSecret: []byte("s")}, Cache: auth.NewTokenCache(10, time.Minute, nil)}}
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), nil, nil)
	called := false
	err := h.ServeHTTP(httptest.NewRecorder(), req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		called = true
		return nil
	}))
	if err != nil || !called {
		t.Fatalf("optional policy without credentials: err=%v called=%v", err, called)
	}
	x := &plan.Exchange{Principal: &auth.Principal{Consumer: "c", Subject: "s", Claims: map[string]any{"tier": "gold"}}}
	for key, want := range map[string]string{"dsp.consumer": "c", "dsp.subject": "s", "dsp.claim.tier": "gold", "dsp.claim.none": ""} {
		v, ok := x.Placeholder(key)
		if !ok || v != want {
			t.Errorf("%s = %v, %v", key, v, ok)
		}
	}
}
