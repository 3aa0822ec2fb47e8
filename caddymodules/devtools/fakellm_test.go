// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package devtools

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, input         string
		tokenDelay, latency time.Duration
		wantErr             string
	}{
		{"bare", "dsp_fakellm", 0, 0, ""},
		{"both", "dsp_fakellm {\n token_delay 50ms\n latency 1s\n}", 50 * time.Millisecond, time.Second, ""},
		{"bad duration", "dsp_fakellm {\n latency soon\n}", 0, 0, `latency: invalid duration "soon"`},
		{"duplicate", "dsp_fakellm {\n latency 1s\n latency 2s\n}", 0, 0, `duplicate subdirective "latency"`},
		{"argument", "dsp_fakellm x", 0, 0, "wrong argument count"},
		{"unknown", "dsp_fakellm {\n model x\n}", 0, 0, `unrecognized subdirective "model"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := new(FakeLLM)
			err := f.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || time.Duration(f.TokenDelay) != tc.tokenDelay || time.Duration(f.Latency) != tc.latency {
				t.Fatalf("%+v, %v", f, err)
			}
		})
	}
}
