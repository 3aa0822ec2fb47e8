// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fd2

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDoesNotImportCaddy enforces the package boundary of DESIGN.md §4: dsp/, inference/, internal/ and
// examples/ are plain libraries (tested without a server); only caddymodules/ and cmd/ may depend on Caddy.
func TestCoreDoesNotImportCaddy(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Deps " "}}`, "./dsp/...", "./inference/...", "./internal/...", "./examples/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 5 {
		t.Fatalf("go list listed only %d packages:\n%s", len(lines), out)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, ": ")
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, "github.com/caddyserver/") || strings.HasPrefix(d, "github.com/dsp-ai/fd2/caddymodules") {
				t.Errorf("%s depends on %s", pkg, d)
				break
			}
		}
	}
}
