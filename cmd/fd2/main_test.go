// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// (without their -trimpath, which would miss the build cache and rebuild every package), and runs the
// commands FD2 adds or must leave to Caddy, then `fd2 run` laid out as in the image.
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
	run := func(t *testing.T, env []string, args ...string) (stdout string, code int) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
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
			out, code := run(t, nil, args...)
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
		env      []string
		args     []string
		wantCode int
		wantOut  []string // substrings of stdout; for health, stdout must be empty
	}{
		{name: "health 200", args: []string{"health", "--url", healthy.URL + "/health", "--timeout", "2s"}, wantCode: 0},
		{name: "health 503", args: []string{"health", "--url", down.URL + "/health"}, wantCode: 1},
		{name: "health url from the environment", env: []string{healthURLEnv + "=" + down.URL + "/health"}, args: []string{"health"}, wantCode: 1},
		{name: "health flag over the environment", env: []string{healthURLEnv + "=" + down.URL + "/health"},
			args: []string{"health", "--url", healthy.URL + "/health"}, wantCode: 0},
		{name: "help names fd2", args: []string{"--help"}, wantOut: []string{"Usage:\n  fd2 [command]", "FD2 is the DSP Front Door", "fd2 health"}},
		{name: "version help is caddy's", args: []string{"version", "--help"}, wantOut: []string{"Prints the version"}},
		{name: "build-info", args: []string{"build-info"}, wantOut: []string{"path\tgithub.com/dsp-ai/fd2/cmd/fd2", "dep\tgithub.com/caddyserver/caddy/v2\tv2."}},
		{name: "list-modules", args: []string{"list-modules"}, wantOut: []string{"http.handlers.dsp_health", "http.handlers.reverse_proxy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.env, tc.args...)
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

	t.Run("run writes only under the XDG volumes", func(t *testing.T) { runInImageLayout(t, bin, version, commit) })
}

// runInImageLayout runs `fd2 run` with the environment the Dockerfile sets (XDG_DATA_HOME and
// XDG_CONFIG_HOME on the volumes, last_good under the data volume) and a HOME that must stay empty: with a
// read-only root filesystem, a write anywhere else would fail the container.
func runInImageLayout(t *testing.T, bin, version, commit string) {
	root := t.TempDir()
	dir := func(name string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	data, config, home, tmp := dir("data"), dir("config"), dir("home"), dir("tmp")
	manifests, err := filepath.Abs("../../internal/defaultmanifests")
	if err != nil {
		t.Fatal(err)
	}
	admin, site := freePort(t), freePort(t)
	caddyfile := filepath.Join(root, "Caddyfile")
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	dsp {
		manifests file %s
		last_good %s
	}
}

:%d {
	bind 127.0.0.1
	handle /health {
		dsp_health
	}
	handle {
		dsp_manifest
		respond "manifest resolved" 200
	}
}
`, admin, manifests, filepath.Join(data, "last-good"), site)
	if err := os.WriteFile(caddyfile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", caddyfile)
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + tmp,
		"XDG_DATA_HOME=" + data, "XDG_CONFIG_HOME=" + config}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", site)
	deadline := time.Now().Add(20 * time.Second)
	for probeHealth(context.Background(), base+"/health", time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("fd2 run never answered /health:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// `fd2 health` against the real handler, as the image's HEALTHCHECK runs it.
	check := exec.Command(bin, "health", "--url", base+"/health")
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("fd2 health: %v %s", err, out)
	}
	resp, err := http.Get(base + "/health?detailed=true")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ Version, Commit string }
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || rep.Version != version || rep.Commit != commit {
		t.Fatalf("detailed health: %+v, %v; want version %s commit %s", rep, err, version, commit)
	}
	// A project request fetches the demo manifest, which last_good keeps on the data volume.
	resp, err = http.Get(base + "/demo/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lastGood := filepath.Join(data, "last-good", "demo.json")
	for {
		if _, err := os.Stat(lastGood); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a demo request (status %d):\n%s", lastGood, resp.StatusCode, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	stopped = true
	if err != nil {
		t.Fatalf("fd2 run: %v\n%s", err, logs.String())
	}
	// Caddy autosaves the loaded config under XDG_CONFIG_HOME (what `fd2 run --resume` reads).
	if _, err := os.Stat(filepath.Join(config, "caddy", "autosave.json")); err != nil {
		t.Errorf("no autosave on the config volume: %v\n%s", err, logs.String())
	}
	for _, d := range []string{home, tmp} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("fd2 wrote %v into %s, outside the volumes", entries, d)
		}
	}
}

// freePort returns a port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
