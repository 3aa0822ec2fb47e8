// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package dispatch

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestServeHTTPWithoutManifest(t *testing.T) {
	h := &Handler{MaxBodySize: 10}
	req := caddyhttp.PrepareRequest(httptest.NewRequest("GET", "/", nil), caddy.NewReplacer(), nil, nil)
	err := h.ServeHTTP(httptest.NewRecorder(), req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError {
		t.Fatalf("err %v, want 500 for a missing dsp_manifest stage", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, input string
		want        int64
		wantErr     bool
	}{
		{"default", "dsp_dispatch", 0, false},
		{"size", "dsp_dispatch {\n max_body_size 2MiB\n}", 2 << 20, false},
		{"bad size", "dsp_dispatch {\n max_body_size big\n}", 0, true},
		{"duplicate", "dsp_dispatch {\n max_body_size 1KiB\n max_body_size 2KiB\n}", 0, true},
		{"argument", "dsp_dispatch extra", 0, true},
		{"unknown", "dsp_dispatch {\n upstream x\n}", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if err == nil && h.MaxBodySize != tc.want {
				t.Fatalf("max_body_size %d, want %d", h.MaxBodySize, tc.want)
			}
		})
	}
}
