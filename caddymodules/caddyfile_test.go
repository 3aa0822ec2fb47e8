// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package caddymodules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/dsp-ai/fd2/caddymodules/health"
	"github.com/dsp-ai/fd2/caddymodules/pipeline"
)

var update = flag.Bool("update", false, "rewrite the adapter goldens' expected JSON from the current adapter")

// TestCaddyfileAdapt checks every golden in testdata/caddyfile_adapt: a Caddyfile, a "----------" line, then
// either the adapted JSON or, for error_* cases, a substring of the expected adapt error.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens found: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".caddyfiletest")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, _ := strings.Cut(string(raw), "----------\n")
			if strings.HasPrefix(name, "error_") {
				_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
				if err == nil {
					t.Fatalf("adapting succeeded, want an error containing %q", strings.TrimSpace(expected))
				}
				if *update {
					write(t, file, input, err.Error()+"\n")
					return
				}
				if !strings.Contains(err.Error(), strings.TrimSpace(expected)) {
					t.Fatalf("error %q does not contain %q", err, strings.TrimSpace(expected))
				}
				return
			}
			if *update {
				out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
				if err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				write(t, file, input, pretty.String()+"\n")
				return
			}
			caddytest.AssertAdapt(t, input, "caddyfile", strings.TrimSpace(expected))
		})
	}
}

func write(t *testing.T, file, input, expected string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(input+"----------\n"+expected), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOptionlessHandlersCaddyfile: dsp_error and dsp_health take no argument and no option.
func TestOptionlessHandlersCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    caddyfile.Unmarshaler
	}{{"dsp_error", new(pipeline.ErrorHandler)}, {"dsp_health", new(health.HealthHandler)}} {
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
