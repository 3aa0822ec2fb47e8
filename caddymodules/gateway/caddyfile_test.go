// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestParseGlobal covers the dsp options the adapter goldens do not: which repeats are allowed, flags,
// and the range of each number and duration.
func TestParseGlobal(t *testing.T) {
	cases := []struct {
		name, body string
		check      func(t *testing.T, app *App)
		wantErr    string
	}{
		{"two cache tiers", "cache memory {\n ttl 1m\n max_projects 5\n }\n cache redis redis://r:6379 {\n ttl 2m\n prefix p:\n }", func(t *testing.T, app *App) {
			if app.Cache.Memory.MaxProjects != 5 || time.Duration(app.Cache.Memory.TTL) != time.Minute ||
				app.Cache.Redis.URL != "redis://r:6379" || app.Cache.Redis.Prefix != "p:" {
				t.Fatalf("%+v %+v", app.Cache.Memory, app.Cache.Redis)
			}
		}, ""},
		{"one tier twice", "cache memory\n cache memory", nil, `duplicate subdirective "cache memory"`},
		{"two vaults", "vault a http://a {\n token t\n tls_insecure\n }\n vault b http://b {\n token u\n }", func(t *testing.T, app *App) {
			if !app.Vaults["a"].TLSInsecure || app.Vaults["b"].Token != "u" {
				t.Fatalf("%+v", app.Vaults)
			}
		}, ""},
		{"flag with an argument", "vault a http://a {\n tls_insecure yes\n }", nil, "wrong argument count"},
		{"kv_version 3", "vault a http://a {\n kv_version 3\n }", nil, "kv_version must be 1 or 2"},
		{"probe_interval zero", "vault a http://a {\n probe_interval 0s\n }", nil, `probe_interval: want a duration above zero, got "0s"`},
		{"negative max_stale", "max_stale -1h", nil, `max_stale: invalid duration "-1h"`},
		{"pool_size", "pool_size 7\n max_body_size 1MiB\n require_exp yes", func(t *testing.T, app *App) {
			if app.PoolSize != 7 || app.MaxBodySize != 1<<20 || !app.RequireExp {
				t.Fatalf("%+v", app)
			}
		}, ""},
		{"negative pool_size", "pool_size -1", nil, `pool_size: want a whole number from 0`},
		{"retries", "manifests control_tower http://ct {\n retries 3\n timeout 5s\n }", func(t *testing.T, app *App) {
			if *app.Manifests.ControlTower.Retries != 3 || time.Duration(app.Manifests.ControlTower.Timeout) != 5*time.Second {
				t.Fatalf("%+v", app.Manifests.ControlTower)
			}
		}, ""},
		{"control tower option on a file source", "manifests file ./m {\n retries 3\n }", nil, `manifests file: unrecognized subdirective "retries"`},
		{"duplicate refresh", "manifests file ./m {\n refresh 1s\n refresh 2s\n }", nil, `duplicate subdirective "refresh"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseGlobal(caddyfile.NewTestDispenser("dsp {\n "+tc.body+"\n}"), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app := new(App)
			if err := json.Unmarshal(v.(httpcaddyfile.App).Value, app); err != nil {
				t.Fatal(err)
			}
			tc.check(t, app)
		})
	}
}
