// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package openaiproxy

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestUnmarshalCaddyfile covers dsp_openai's block-level options; providers and models repeat, the
// others may appear once.
func TestUnmarshalCaddyfile(t *testing.T) {
	const providers = "provider a mock {\n text hi\n }\n provider b mock\n"
	cases := []struct {
		name, body string
		check      func(t *testing.T, h *Handler)
		wantErr    string
	}{
		{"full", providers + " model m a b:x\n model n {\n target a y weight 2\n fallback m\n }\n max_attempts 3\n max_body_size 2MiB\n breaker_open_for 30s", func(t *testing.T, h *Handler) {
			if len(h.ProvidersRaw) != 2 || len(h.Models) != 2 || h.Models[0].Targets[1].Model != "x" ||
				h.Models[1].Targets[0].Weight != 2 || h.MaxAttempts != 3 || h.MaxBodySize != 2<<20 ||
				time.Duration(h.BreakerOpenFor) != 30*time.Second {
				t.Fatalf("%+v", h)
			}
		}, ""},
		{"provider name twice", providers + " provider a mock", nil, `provider "a" defined twice`},
		{"provider forms", "name chat\n provider mock {\n text one\n }\n provider second {\n type mock\n text two\n }\n provider third mock {\n type mock\n }\n model m second", func(t *testing.T, h *Handler) {
			want := map[string]string{
				"mock":   `{"provider":"mock","text":"one"}`,
				"second": `{"provider":"mock","text":"two"}`,
				"third":  `{"provider":"mock"}`,
			}
			for name, js := range want {
				if got := string(h.ProvidersRaw[name]); got != js {
					t.Errorf("provider %s = %s; want %s", name, got, js)
				}
			}
			if h.Name != "chat" || len(h.Models) != 1 {
				t.Fatalf("%+v", h)
			}
		}, ""},
		{"provider without a type", "provider nameless {\n text x\n }", nil, "provider nameless: give its type"},
		{"provider types disagree", "provider third mock {\n type openai\n }", nil, `type "openai" given twice differently`},
		{"provider after a typed block", "provider second {\n type mock\n }\n provider b mock", func(t *testing.T, h *Handler) {
			if len(h.ProvidersRaw) != 2 {
				t.Fatalf("%v", h.ProvidersRaw)
			}
		}, ""},
		{"duplicate max_attempts", "max_attempts 1\n max_attempts 2", nil, `duplicate subdirective "max_attempts"`},
		{"zero max_attempts", "max_attempts 0", nil, `max_attempts: want a whole number from 1`},
		{"bad max_body_size", "max_body_size lots", nil, `max_body_size: invalid size "lots"`},
		{"zero breaker_open_for", "breaker_open_for 0s", nil, `breaker_open_for: want a duration above zero`},
		{"unknown", "retries 2", nil, `unrecognized subdirective "retries"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := new(Handler)
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("dsp_openai {\n " + tc.body + "\n}"))
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
	if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("dsp_openai x")); err == nil {
		t.Fatal("an argument to dsp_openai was accepted")
	}
}
