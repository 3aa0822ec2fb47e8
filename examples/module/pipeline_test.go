// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package echoworkflow

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/prometheus/client_golang/prometheus/testutil"

	_ "github.com/dsp-ai/fd2" // every FD2 module, as `xcaddy build --with github.com/dsp-ai/fd2` adds them
)

// TestPipeline serves the example Caddyfile and manifest through a real Caddy: the manifest's module of a
// type outside the Control Tower's enum is routed, authenticated by the manifest's key-auth, dispatched to
// the registered echo_workflow module and counted in /metrics. Admin is off and the port is a free one, so
// it never meets caddymodules/integration's fixed ports.
func TestPipeline(t *testing.T) {
	// Caddy writes its autosave and storage under these; keep them in the test's directory.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECHO_PORT", port) // the Caddyfile's {$ECHO_PORT}
	src, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting the Caddyfile: %v", err)
	}
	if len(warns) > 0 {
		t.Fatalf("adapting the Caddyfile: warnings %v", warns)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading the config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping Caddy: %v", err)
		}
	})
	base := "http://127.0.0.1:" + port
	okBefore := testutil.ToFloat64(runs.WithLabelValues("echo", "greeter", "ok"))
	badBefore := testutil.ToFloat64(runs.WithLabelValues("echo", "greeter", "invalid_request"))

	cases := []struct {
		name, method, path, key, body string
		wantCode                      int
		wantError                     string // FD2 error code
	}{
		{name: "run", method: "POST", path: "/echo/greeter/run", key: "echo-demo-key", body: `{"order":42}`, wantCode: 200},
		{name: "no key", method: "POST", path: "/echo/greeter/run", body: `{"order":42}`, wantCode: 401, wantError: "*"},
		{name: "wrong method", method: "GET", path: "/echo/greeter/run", key: "echo-demo-key", wantCode: 405, wantError: "method_not_allowed"},
		{name: "bad body", method: "POST", path: "/echo/greeter/run", key: "echo-demo-key", body: `nope`, wantCode: 400, wantError: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-Id", "pipe-1")
			if tc.key != "" {
				req.Header.Set("apikey", tc.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantCode, b)
			}
			if tc.wantError != "" {
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || tc.wantError != "*" && e.Error.Code != tc.wantError {
					t.Fatalf("error body %s, want FD2's error shape with code %q", b, tc.wantError)
				}
				return
			}
			var got struct {
				Greeting, Project, Module, Consumer string
				RequestID                           string `json:"request_id"`
				Input                               map[string]any
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("answer %s: %v", b, err)
			}
			if got.Greeting != "hello from echo_workflow" || got.Project != "echo" || got.Module != "greeter" ||
				got.Consumer != "demo-client" || got.RequestID != "pipe-1" || got.Input["order"] != 42.0 {
				t.Fatalf("answer %s", b)
			}
		})
	}

	if d := testutil.ToFloat64(runs.WithLabelValues("echo", "greeter", "ok")) - okBefore; d != 1 {
		t.Errorf("runs{result=ok} moved by %v, want 1", d)
	}
	if d := testutil.ToFloat64(runs.WithLabelValues("echo", "greeter", "invalid_request")) - badBefore; d != 1 {
		t.Errorf("runs{result=invalid_request} moved by %v, want 1", d)
	}
	// The collector reaches the config's registry (metrics.Include), not just the package.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if want := `fd2_echo_workflow_runs_total{module="greeter",project="echo",result="ok"} `; !strings.Contains(string(b), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
