// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package route

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dsp-ai/fd2/dsp/manifest"
)

func TestLocate(t *testing.T) {
	on := Locator{Headers: true}
	sub := Locator{Headers: true, HostSuffix: ".api.example.com"}
	cases := []struct {
		name                  string
		l                     Locator
		path, host, pm, id    string
		wantProject, wantPath string
	}{
		{"path form", on, "/sas2py/convert", "gw", "", "", "sas2py", "/sas2py/convert"},
		{"module header", on, "/v1/chat/completions", "gw", "sas2py/openai-compatible", "", "sas2py", "/sas2py/openai-compatible/v1/chat/completions"},
		{"module header root", on, "/", "gw", "p/m", "", "p", "/p/m"},
		{"malformed module header", on, "/x", "gw", "p/m/extra", "", "", "/x"},
		{"module header without module", on, "/x", "gw", "p/", "", "", "/x"},
		{"project id header only at root", on, "/", "gw", "", "p", "p", "/p"},
		{"project id header ignored off root", on, "/q/x", "gw", "", "p", "q", "/q/x"},
		{"headers disabled", Locator{}, "/q/x", "gw", "p/m", "", "q", "/q/x"},
		{"subdomain", sub, "/convert", "sas2py.api.example.com:8443", "", "", "sas2py", "/sas2py/convert"},
		{"subdomain not matching", sub, "/p/x", "other.example.com", "", "", "p", "/p/x"},
		{"nested subdomain refused", sub, "/p/x", "a.b.api.example.com", "", "", "p", "/p/x"},
		{"root", on, "/", "gw", "", "", "", "/"},
		{"empty path", on, "", "gw", "", "", "", "/"},
		{"asterisk form", on, "*", "gw", "", "p", "", "*"},
		// Hostile input: the project must come back empty, never as a label or file name to be.
		{"non-UTF-8 segment", on, "/\xff\xfe/x", "gw", "", "", "", "/\xff\xfe/x"},
		{"dot segment", on, "/../etc/passwd", "gw", "", "", "", "/../etc/passwd"},
		{"overlong project", on, "/" + strings.Repeat("a", 129) + "/x", "gw", "", "", "", "/" + strings.Repeat("a", 129) + "/x"},
		{"non-UTF-8 module header", on, "/x", "gw", "\xff/m", "", "", "/x"},
		{"non-UTF-8 project id header", on, "/", "gw", "", "\xc3\x28", "", "/"},
		{"non-UTF-8 subdomain", sub, "/x", "\xff.api.example.com", "", "", "", "/x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, path := tc.l.Locate(tc.path, tc.host, tc.pm, tc.id)
			if p != tc.wantProject || path != tc.wantPath {
				t.Fatalf("Locate = %q %q, want %q %q", p, path, tc.wantProject, tc.wantPath)
			}
		})
	}
}

// FuzzLocate holds Locate to its contract on any input: no panic, and a project that is either empty or a
// valid project id that the canonical path starts with.
func FuzzLocate(f *testing.F) {
	for _, s := range [][4]string{
		{"/sas2py/convert", "gw", "", ""},
		{"/v1/chat/completions", "gw", "sas2py/openai-compatible", ""},
		{"/", "gw", "", "p"},
		{"/convert", "sas2py.api.example.com:8443", "", ""},
		{"/\xff\xfe/x", "[::1]:80", "p/m/x", "\x00"},
		{"", "", "/", "/"},
	} {
		f.Add(s[0], s[1], s[2], s[3], true)
	}
	f.Fuzz(func(t *testing.T, path, host, pm, id string, headers bool) {
		l := Locator{Headers: headers, HostSuffix: ".api.example.com"}
		p, canonical := l.Locate(path, host, pm, id)
		if p == "" {
			return
		}
		if !manifest.ValidProjectID(p) || !utf8.ValidString(p) {
			t.Fatalf("Locate returned the invalid project %q", p)
		}
		if canonical != "/"+p && !strings.HasPrefix(canonical, "/"+p+"/") {
			t.Fatalf("canonical path %q does not start with project %q", canonical, p)
		}
	})
}
