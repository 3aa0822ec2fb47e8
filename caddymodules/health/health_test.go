// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package health

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    caddyfile.Unmarshaler
	}{{"dsp_health", new(HealthHandler)}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.name)); err != nil {
				t.Fatal(err)
			}
			if err := tc.h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.name + " x")); err == nil {
				t.Fatal("an argument was accepted")
			}
			err := tc.h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.name + " {\n verbose\n}"))
			if err == nil || !strings.Contains(err.Error(), tc.name+" takes no options") {
				t.Fatalf("err %v", err)
			}
		})
	}
}
