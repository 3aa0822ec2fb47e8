// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dsp-ai/fd2/dsp/metrics"
	fd2secrets "github.com/dsp-ai/fd2/dsp/secrets"
	"github.com/dsp-ai/fd2/internal/fakellm"
)

// healthDetail is the part of GET /health?detailed=true this test reads.
type healthDetail struct {
	Status string `json:"status"`
	Vaults []struct {
		Name            string     `json:"name"`
		Healthy         bool       `json:"healthy"`
		Authenticated   bool       `json:"authenticated"`
		LatencyMs       float64    `json:"latency_ms"`
		TokenExpiresAt  *time.Time `json:"token_expires_at"`
		TokenTTLSeconds *float64   `json:"token_ttl_seconds"`
		LastErrorAt     *time.Time `json:"last_error_at"`
		Error           string     `json:"error"`
	} `json:"vaults"`
	Breakers []struct {
		Deployment string     `json:"deployment"`
		State      string     `json:"state"`
		Since      time.Time  `json:"since"`
		RetryAt    *time.Time `json:"retry_at"`
	} `json:"breakers"`
}

func getHealth(t *testing.T, f *fd2) (healthDetail, string) {
	t.Helper()
	r := do(t, "GET", f.url("/health?detailed=true"), "")
	expectStatus(t, r, 200)
	var h healthDetail
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatalf("health report: %v: %s", err, r.body)
	}
	return h, string(r.body)
}

// metricLine returns the value of one exact series on /metrics, or "" when it is absent.
func metricLine(t *testing.T, f *fd2, series string) string {
	t.Helper()
	for _, l := range strings.Split(string(do(t, "GET", f.url("/metrics"), "").body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestHealthDetailed runs /health?detailed=true and /metrics through Caddy: provider keys written as
// env:, encrypted: and vault: references count in fd2_secrets_resolutions_total; the dsp app's Vault is
// probed and reported (and fd2_secrets_vault_up follows it down); a provider that keeps failing opens its
// breaker, which the report lists as open, degrading the status.
func TestHealthDetailed(t *testing.T) {
	requireIntegration(t)
	llm := startFakeLLM(t, fakellm.Options{})
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`)
	}))
	t.Cleanup(flaky.Close)

	// A fake Vault: sys/health, the token's lookup-self and one KV v2 secret.
	const vaultToken = "s.health-test-vault-token-5e1d"
	var vaultTokenSeenOnHealth atomic.Bool
	vault := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/sys/health":
			if r.Header.Get("X-Vault-Token") != "" {
				vaultTokenSeenOnHealth.Store(true)
			}
			fmt.Fprint(w, `{"initialized":true,"sealed":false,"standby":false}`)
		case "/v1/auth/token/lookup-self":
			fmt.Fprint(w, `{"data":{"ttl":7200,"renewable":false}}`)
		case "/v1/secret/data/llm":
			fmt.Fprint(w, `{"data":{"data":{"api_key":"sk-health-vault-0001"},"metadata":{"version":1}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[]}`)
		}
	}))
	t.Cleanup(vault.Close)

	const passphrase = "health-test-passphrase"
	enc, err := (&fd2secrets.Resolver{EncryptionKey: passphrase}).Encrypt("sk-health-fernet-0001")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FD2_TEST_HEALTH_KEY", "sk-health-env-0001")
	for _, s := range []string{vaultToken, "sk-health-vault-0001", "sk-health-fernet-0001", "sk-health-env-0001", passphrase} {
		registerSecret(s)
	}
	resolutions := func(backend string) float64 {
		return testutil.ToFloat64(metrics.SecretResolutions.WithLabelValues(backend, "ok"))
	}
	before := map[string]float64{"env": resolutions("env"), "encrypted": resolutions("encrypted"), "vault": resolutions("vault")}

	f := startFD2(t, fmt.Sprintf("encryption_key %s\n\t\tvault health_vault %s {\n\t\t\ttoken %s\n\t\t}", passphrase, vault.URL, vaultToken), fmt.Sprintf(`
:{{HTTP}} {
	handle /health {
		dsp_health
	}
	handle /metrics {
		metrics
	}
	route /v1/* {
		dsp_openai {
			provider health_flaky openai {
				base_url %[1]s/v1
				api_key %[2]s
			}
			provider health_fake openai {
				base_url %[3]s/v1
				api_key env:FD2_TEST_HEALTH_KEY
			}
			provider health_vaulted openai {
				base_url %[3]s/v1
				api_key vault:health_vault:secret/llm#api_key
			}
			breaker_open_for 10m
			model resilient {
				target health_flaky fake-gpt priority 0
				target health_fake fake-gpt priority 1
			}
			model vaulted health_vaulted
		}
	}
	handle_errors {
		dsp_error
	}
}
`, flaky.URL, enc, llm.URL))

	t.Run("resolutions counted", func(t *testing.T) {
		for backend, was := range before {
			series := fmt.Sprintf(`fd2_secrets_resolutions_total{backend=%q,result="ok"}`, backend)
			if got, want := metricLine(t, f, series), fmt.Sprint(was+1); got != want {
				t.Errorf("%s = %q, want %s (one %s: reference in the config)", series, got, want, backend)
			}
		}
	})

	t.Run("liveness unchanged", func(t *testing.T) {
		r := do(t, "GET", f.url("/health"), "")
		expectStatus(t, r, 200)
		if got := strings.TrimSpace(string(r.body)); got != `{"service":"fd2","status":"ok"}` {
			t.Fatalf("GET /health = %s", got)
		}
	})

	t.Run("vault probed", func(t *testing.T) {
		h, body := getHealth(t, f)
		if strings.Contains(body, vaultToken) || strings.Contains(body, "secret/llm") {
			t.Fatalf("the report shows a Vault credential or secret path: %s", body)
		}
		if len(h.Vaults) != 1 {
			t.Fatalf("vaults: %s", body)
		}
		v := h.Vaults[0]
		if v.Name != "health_vault" || !v.Healthy || !v.Authenticated || v.LatencyMs <= 0 || v.TokenExpiresAt == nil ||
			v.TokenTTLSeconds == nil || *v.TokenTTLSeconds < 7000 || v.LastErrorAt != nil || v.Error != "" {
			t.Fatalf("vault entry: %s", body)
		}
		if vaultTokenSeenOnHealth.Load() {
			t.Fatal("the probe sent the Vault token to sys/health")
		}
		if got := metricLine(t, f, `fd2_secrets_vault_up{vault="health_vault"}`); got != "1" {
			t.Fatalf(`fd2_secrets_vault_up{vault="health_vault"} = %q, want 1`, got)
		}
		if got := metricLine(t, f, `fd2_secrets_vault_requests_total{op="probe",result="ok",vault="health_vault"}`); got != "1" {
			t.Fatalf("probe requests = %q, want 1", got)
		}
	})

	t.Run("breaker opens", func(t *testing.T) {
		h, body := getHealth(t, f)
		for _, b := range h.Breakers {
			if b.Deployment == "health_flaky" && b.State == "open" {
				t.Fatalf("health_flaky is open before any request: %s", body)
			}
		}
		// Every request fails over from health_flaky to health_fake; five failures in a row open the breaker.
		for range 5 {
			expectStatus(t, do(t, "POST", f.url("/v1/chat/completions"),
				`{"model":"resilient","messages":[{"role":"user","content":"hi"}]}`, "Content-Type", "application/json"), 200)
		}
		h, body = getHealth(t, f)
		found := false
		for _, b := range h.Breakers {
			if b.Deployment != "health_flaky" {
				continue
			}
			found = true
			if b.State != "open" || b.Since.IsZero() || b.RetryAt == nil || b.RetryAt.Sub(b.Since) != 10*time.Minute {
				t.Fatalf("health_flaky breaker: %s", body)
			}
		}
		if !found || h.Status != "degraded" {
			t.Fatalf("want health_flaky open and the status degraded: %s", body)
		}
		if got := metricLine(t, f, `fd2_breaker_state{model="fake-gpt",provider="health_flaky"}`); got != "1" {
			t.Fatalf("fd2_breaker_state for health_flaky = %q, want 1 (open)", got)
		}
	})

	t.Run("vault down", func(t *testing.T) {
		vault.Close()
		h, body := getHealth(t, f)
		if len(h.Vaults) != 1 || h.Vaults[0].Healthy || h.Vaults[0].Error != "probe failed" || h.Vaults[0].LastErrorAt == nil ||
			h.Status != "degraded" {
			t.Fatalf("report with Vault down: %s", body)
		}
		if got := metricLine(t, f, `fd2_secrets_vault_up{vault="health_vault"}`); got != "0" {
			t.Fatalf(`fd2_secrets_vault_up{vault="health_vault"} = %q after Vault went down, want 0`, got)
		}
	})
}
