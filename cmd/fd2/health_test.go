// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

func TestProbeHealth(t *testing.T) {
	const secretBody = "body-secret-7f3a"
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Write([]byte(`{"service":"fd2","status":"ok"}`))
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(secretBody))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/health", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// A port nothing listens on: bound, then released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	withSecrets := strings.Replace(closed, "http://", "http://user:pass-9c1e@", 1) + "/health?token=tok-4d2b"

	for _, tc := range []struct {
		name        string
		url         string
		timeout     time.Duration
		wantErr     string // substring; "" means healthy
		wantIs      error
		maxDuration time.Duration
	}{
		{name: "200 is healthy", url: srv.URL + "/health", timeout: 3 * time.Second},
		{name: "503 is unhealthy", url: srv.URL + "/down", timeout: 3 * time.Second, wantErr: "status 503", wantIs: errUnhealthy},
		{name: "a redirect is not followed", url: srv.URL + "/moved", timeout: 3 * time.Second, wantErr: "status 302", wantIs: errUnhealthy},
		{name: "a 404 is unhealthy", url: srv.URL + "/nothing", timeout: 3 * time.Second, wantErr: "status 404", wantIs: errUnhealthy},
		{name: "the timeout bounds a hung endpoint", url: srv.URL + "/slow", timeout: 200 * time.Millisecond,
			wantErr: "deadline exceeded", wantIs: context.DeadlineExceeded, maxDuration: 3 * time.Second},
		{name: "a refused connection", url: withSecrets, timeout: 3 * time.Second, wantErr: "refused"},
		{name: "not http", url: "ftp://127.0.0.1/health", timeout: time.Second, wantErr: "http or https"},
		{name: "relative", url: "/health", timeout: time.Second, wantErr: "http or https"},
		{name: "unparsable", url: "http://[::1", timeout: time.Second, wantErr: "parsing the health URL"},
		{name: "zero timeout", url: srv.URL + "/health", timeout: 0, wantErr: "--timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := probeHealth(context.Background(), tc.url, tc.timeout)
			if tc.maxDuration > 0 && time.Since(start) > tc.maxDuration {
				t.Errorf("took %v, want under %v", time.Since(start), tc.maxDuration)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("probeHealth: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("probeHealth: nil, want an error containing %q", tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", msg, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			for _, secret := range []string{secretBody, "pass-9c1e", "tok-4d2b", "user:"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows %q", msg, secret)
				}
			}
		})
	}
}

// TestHealthCommandRegistered checks the command Caddy's command line will run, with its flags' defaults.
func TestHealthCommandRegistered(t *testing.T) {
	cmd, ok := caddycmd.Commands()["health"]
	if !ok {
		t.Fatal("no health command registered")
	}
	if cmd.Func == nil || cmd.Flags == nil {
		t.Fatalf("health command without a func or flags: %+v", cmd)
	}
	for name, want := range map[string]string{"url": defaultHealthURL, "timeout": "3s"} {
		f := cmd.Flags.Lookup(name)
		if f == nil {
			t.Fatalf("no --%s flag", name)
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, want)
		}
	}
}
