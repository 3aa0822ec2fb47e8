// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package fd2

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/dsp-ai/fd2"

// caddyFreeRoots are the trees of plain libraries (DESIGN.md §4), tested without a server; only
// caddymodules/ and cmd/ may depend on Caddy. A root marked later arrives with a later issue: until its
// directory exists it is not checked, while a root that should be here and is not fails the test, so that
// a move cannot quietly take a tree out of the check.
var caddyFreeRoots = []struct {
	dir   string
	later bool
}{
	{dir: "dsp"},
	{dir: "inference"},
	{dir: "internal"},
	{dir: "examples"},
	{dir: "rag"},
}

// TestCoreDoesNotImportCaddy enforces the package boundary: nothing under caddyFreeRoots depends, even
// indirectly, on Caddy or on FD2's Caddy glue.
func TestCoreDoesNotImportCaddy(t *testing.T) {
	var patterns []string
	for _, root := range caddyFreeRoots {
		if _, err := os.Stat(root.dir); err != nil {
			if !root.later || !os.IsNotExist(err) {
				t.Errorf("layering root %s/: %v", root.dir, err)
			}
			continue
		}
		patterns = append(patterns, "./"+root.dir+"/...")
	}
	deps := listDeps(t, patterns...)
	for _, root := range caddyFreeRoots {
		if _, err := os.Stat(root.dir); err == nil && countUnder(deps, module+"/"+root.dir) == 0 {
			t.Errorf("%s/ exists but go list found no package in it", root.dir)
		}
	}
	for pkg, list := range deps {
		for _, d := range list {
			if strings.HasPrefix(d, "github.com/caddyserver/") || strings.HasPrefix(d, module+"/caddymodules") {
				t.Errorf("%s depends on %s", pkg, d)
				break
			}
		}
	}
}

// TestProductionDoesNotImportExamples keeps examples/ (demo servers, the fake provider's command) out of
// the binary: no package outside examples/ depends on one inside it. Test files are not listed by go list
// -deps, so tests may still use the examples as fixtures.
func TestProductionDoesNotImportExamples(t *testing.T) {
	deps := listDeps(t, "./...")
	for _, want := range []string{module + "/cmd/fd2", module + "/caddymodules/gateway"} {
		if _, ok := deps[want]; !ok {
			t.Fatalf("go list ./... did not list %s", want)
		}
	}
	if countUnder(deps, module+"/examples") == 0 {
		t.Fatal("go list ./... found no package under examples/: the check would pass vacuously")
	}
	for pkg, list := range deps {
		if under(pkg, module+"/examples") {
			continue
		}
		for _, d := range list {
			if under(d, module+"/examples") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// listDeps returns, for every package the patterns match, its transitive non-test dependencies.
func listDeps(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	if len(patterns) == 0 {
		t.Fatal("no package pattern to list")
	}
	args := append([]string{"list", "-f", `{{.ImportPath}}: {{join .Deps " "}}`}, patterns...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, list, _ := strings.Cut(line, ":")
		deps[pkg] = strings.Fields(list)
	}
	return deps
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

func countUnder(deps map[string][]string, prefix string) int {
	n := 0
	for pkg := range deps {
		if under(pkg, prefix) {
			n++
		}
	}
	return n
}
