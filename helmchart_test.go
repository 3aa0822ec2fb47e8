// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fd2

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// TestHelmChartCaddyfilesAdapt adapts every Caddyfile the Helm chart renders for its documented values
// (tests/helm/testdata/caddyfiles, which tests/helm keeps equal to the chart's output) with FD2's modules:
// the chart's tests cannot, since that module does not import fd2.
func TestHelmChartCaddyfilesAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("tests", "helm", "testdata", "caddyfiles", "*.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want the Caddyfiles of the default values and the examples, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(b, map[string]any{"filename": f})
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("adapt warning: %s", w.String())
			}
		})
	}
}
