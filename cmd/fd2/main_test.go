// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/dsp-ai/fd2/internal/buildinfo"
)

func TestIsVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want bool
	}{
		{name: "version", args: []string{"version"}, want: true},
		{name: "--version", args: []string{"--version"}, want: true},
		{name: "-v", args: []string{"-v"}, want: true},
		{name: "no args", args: nil},
		{name: "version help goes to caddy", args: []string{"version", "--help"}},
		{name: "build-info", args: []string{"build-info"}},
		{name: "list-modules", args: []string{"list-modules"}},
		{name: "run", args: []string{"run", "--config", "version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isVersion(tc.args); got != tc.want {
				t.Fatalf("isVersion(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

func TestPrintVersion(t *testing.T) {
	var b bytes.Buffer
	printVersion(&b)
	_, caddyFull := caddy.Version()
	want := "fd2 " + buildinfo.Read().String() + "\ncaddy " + caddyFull + "\n"
	if b.String() != want {
		t.Fatalf("printVersion wrote %q, want %q", b.String(), want)
	}
}

// TestBinary builds ./cmd/fd2 with -ldflags -X on internal/buildinfo, as the Makefile and the Dockerfile do
// (without their -trimpath, which would miss the build cache and rebuild every package),
// and runs the commands FD2 adds or must leave to Caddy.
func TestBinary(t *testing.T) {
	const (
		version = "v0.17.0-test"
		commit  = "abc1234"
		date    = "2026-12-07T10:00:00Z"
	)
	bin := filepath.Join(t.TempDir(), "fd2")
	pkg := "github.com/dsp-ai/fd2/internal/buildinfo"
	ldflags := "-X " + pkg + ".Version=" + version + " -X " + pkg + ".Commit=" + commit + " -X " + pkg + ".Date=" + date
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(t *testing.T, args ...string) (stdout string, code int) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatalf("running fd2 %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("fd2 %s: exit %d, stderr %s", strings.Join(args, " "), code, errOut.String())
		return out.String(), code
	}

	_, caddyFull := caddy.Version()
	wantVersion := "fd2 " + version + " (commit " + commit + ", built " + date + ")\ncaddy " + caddyFull + "\n"
	if !strings.HasPrefix(caddyFull, "v2.") {
		t.Fatalf("caddy.Version() = %q: the test binary does not see Caddy's module version", caddyFull)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, code := run(t, args...)
			if code != 0 || out != wantVersion {
				t.Fatalf("exit %d, stdout %q, want 0 and %q", code, out, wantVersion)
			}
		})
	}

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"service":"fd2","status":"ok"}`))
	}))
	t.Cleanup(healthy.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout; for health, stdout must be empty
	}{
		{name: "health 200", args: []string{"health", "--url", healthy.URL + "/health", "--timeout", "2s"}, wantCode: 0},
		{name: "health 503", args: []string{"health", "--url", down.URL + "/health"}, wantCode: 1},
		{name: "version help is caddy's", args: []string{"version", "--help"}, wantOut: []string{"Prints the version"}},
		{name: "build-info", args: []string{"build-info"}, wantOut: []string{"path\tgithub.com/dsp-ai/fd2/cmd/fd2", "dep\tgithub.com/caddyserver/caddy/v2\tv2."}},
		{name: "list-modules", args: []string{"list-modules"}, wantOut: []string{"http.handlers.dsp_health", "http.handlers.reverse_proxy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout %q", code, tc.wantCode, out)
			}
			if tc.wantOut == nil && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(out, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, out)
				}
			}
		})
	}
}
