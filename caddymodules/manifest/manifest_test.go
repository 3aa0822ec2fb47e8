// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package manifest

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestManifestHandlerCaddyfile(t *testing.T) {
	cases := []struct {
		name, input string
		check       func(t *testing.T, h *ManifestHandler)
		wantErr     string
	}{
		{"bare", "dsp_manifest", func(t *testing.T, h *ManifestHandler) {
			if h.ProjectHeaders != nil || h.ServerTiming != nil || h.Metrics != nil {
				t.Fatalf("%+v", h)
			}
		}, ""},
		{"switches", "dsp_manifest {\n host_suffix .api.example.com\n project_headers off\n server_timing on\n metrics false\n}", func(t *testing.T, h *ManifestHandler) {
			if h.HostSuffix != ".api.example.com" || *h.ProjectHeaders || !*h.ServerTiming || *h.Metrics {
				t.Fatalf("%+v", h)
			}
		}, ""},
		{"bad switch", "dsp_manifest {\n metrics sometimes\n}", nil, `metrics: want on or off, got "sometimes"`},
		{"duplicate", "dsp_manifest {\n metrics on\n metrics off\n}", nil, `duplicate subdirective "metrics"`},
		{"argument", "dsp_manifest x", nil, "wrong argument count"},
		{"missing value", "dsp_manifest {\n host_suffix\n}", nil, "wrong argument count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := new(ManifestHandler)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, h)
		})
	}
}

func TestProjectOf(t *testing.T) {
	off := false
	cases := []struct {
		name                  string
		h                     ManifestHandler
		path, host            string
		headers               map[string]string
		wantProject, wantPath string
	}{
		{"path form", ManifestHandler{headers: true}, "/sas2py/convert", "gw", nil, "sas2py", "/sas2py/convert"},
		{"module header", ManifestHandler{headers: true}, "/v1/chat/completions", "gw",
			map[string]string{"X-Project-Module": "sas2py/openai-compatible"}, "sas2py", "/sas2py/openai-compatible/v1/chat/completions"},
		{"module header root", ManifestHandler{headers: true}, "/", "gw", map[string]string{"X-Project-Module": "p/m"}, "p", "/p/m"},
		{"malformed module header", ManifestHandler{headers: true}, "/x", "gw", map[string]string{"X-Project-Module": "p/m/extra"}, "", "/x"},
		{"project id header only at root", ManifestHandler{headers: true}, "/", "gw", map[string]string{"X-Project-Id": "p"}, "p", "/p"},
		{"project id header ignored off root", ManifestHandler{headers: true}, "/q/x", "gw", map[string]string{"X-Project-Id": "p"}, "q", "/q/x"},
		{"headers disabled", ManifestHandler{headers: false, ProjectHeaders: &off}, "/q/x", "gw", map[string]string{"X-Project-Module": "p/m"}, "q", "/q/x"},
		{"subdomain", ManifestHandler{headers: true, HostSuffix: ".api.example.com"}, "/convert", "sas2py.api.example.com:8443", nil, "sas2py", "/sas2py/convert"},
		{"subdomain not matching", ManifestHandler{headers: true, HostSuffix: ".api.example.com"}, "/p/x", "other.example.com", nil, "p", "/p/x"},
		{"nested subdomain refused", ManifestHandler{headers: true, HostSuffix: ".api.example.com"}, "/p/x", "a.b.api.example.com", nil, "p", "/p/x"},
		{"root", ManifestHandler{headers: true}, "/", "gw", nil, "", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://"+tc.host+tc.path, nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			p, path := tc.h.projectOf(r)
			if p != tc.wantProject || path != tc.wantPath {
				t.Fatalf("projectOf = %q %q, want %q %q", p, path, tc.wantProject, tc.wantPath)
			}
		})
	}
}
