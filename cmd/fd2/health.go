// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// defaultHealthURL is the liveness endpoint of Caddyfile.example's gateway site.
const defaultHealthURL = "http://127.0.0.1:8080/health"

// healthURLEnv overrides the default URL: an image's HEALTHCHECK is fixed at build time, and `docker run
// --health-cmd` needs a shell the image does not have, so a config serving /health elsewhere sets this.
const healthURLEnv = "FD2_HEALTH_URL"

// errUnhealthy is a health endpoint's answer other than 200.
var errUnhealthy = errors.New("health endpoint did not answer 200")

func init() {
	fs := flag.NewFlagSet("health", flag.ExitOnError)
	fs.String("url", defaultHealthURL, "health endpoint to GET")
	fs.Duration("timeout", 3*time.Second, "give up after this long")
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "health",
		Usage: "[--url <url>] [--timeout <duration>]",
		Short: "Exits 0 when FD2's health endpoint answers 200 (a container health check)",
		Long: `
Sends one GET to the health endpoint (--url, else $` + healthURLEnv + `, else
` + defaultHealthURL + `) and exits 0 when it answers 200, 1 otherwise:
on an error status, a redirect (not followed), a refused connection or the
timeout (default 3s). It prints nothing on success and never the response body.

The FD2 image has no shell or curl, so its HEALTHCHECK runs this command. Point
it at /health?detailed=true to fail while no manifest can be served (503), not
only when the process is down.
`,
		Flags: fs,
		Func:  cmdHealth,
	})
}

func cmdHealth(fl caddycmd.Flags) (int, error) {
	target := fl.String("url")
	if env := os.Getenv(healthURLEnv); env != "" && !fl.Changed("url") {
		target = env
	}
	if err := probeHealth(context.Background(), target, fl.Duration("timeout")); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("checking health: %w", err)
	}
	return caddy.ExitCodeSuccess, nil
}

// probeHealth GETs target once within timeout and returns nil on a 200. Its errors name the endpoint
// without user info or query (where a token could be) and never quote the body.
func probeHealth(ctx context.Context, target string, timeout time.Duration) error {
	u, err := url.Parse(target)
	if err != nil {
		// url.Error repeats the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("parsing the health URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("parsing the health URL: want an absolute http or https URL")
	}
	if timeout <= 0 {
		return errors.New("parsing --timeout: want a positive duration")
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("building the request to %s: %w", shown, err)
	}
	client := &http.Client{
		// A probe goes straight to the instance: a proxy from the environment would answer for it.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// A redirect (to a login page, say) is not health.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("requesting %s: %w", shown, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("requesting %s: %w: status %d", shown, errUnhealthy, resp.StatusCode)
	}
	return nil
}
