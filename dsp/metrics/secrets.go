// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Secret metrics. Their labels are fixed enums plus the Vault instance name, which comes from the
// operator's configuration or manifests (as project does): never a secret path, key, token or value.
var (
	// SecretResolutions counts secret reference resolutions by backend (vault, config, env, encrypted,
	// literal) and result (ok, error). A Vault read served from the client's cache counts as a resolution.
	SecretResolutions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_secrets_resolutions_total",
		Help: "Secret reference resolutions by backend (vault, config, env, encrypted, literal) and result (ok, error).",
	}, []string{"backend", "result"})

	// VaultRequests counts HTTP requests to Vault by instance, operation (read, login, renew, probe) and
	// result (ok, error: Vault could not be reached or answered with an error status). Cached reads make
	// no request.
	VaultRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fd2_secrets_vault_requests_total",
		Help: "Requests to Vault by instance, operation (read, login, renew, probe) and result (ok, error).",
	}, []string{"vault", "op", "result"})

	// VaultRequestDuration is the duration of those requests, by instance and operation.
	VaultRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fd2_secrets_vault_request_duration_seconds",
		Help:    "Duration of requests to Vault by instance and operation (read, login, renew, probe).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"vault", "op"})

	// Vaults reports fd2_secrets_vault_up and fd2_secrets_vault_token_ttl_seconds at scrape time for every
	// Vault client in service.
	Vaults = &VaultCollector{}
)

var (
	vaultUpDesc = prometheus.NewDesc("fd2_secrets_vault_up",
		"1 when the Vault instance answered its last request (read, login, renewal or health probe) successfully, else 0.",
		[]string{"vault"}, nil)
	vaultTTLDesc = prometheus.NewDesc("fd2_secrets_vault_token_ttl_seconds",
		"Remaining lifetime of the Vault instance's token; absent for a token that never expires.",
		[]string{"vault"}, nil)
)

// VaultState is what VaultCollector reads from one Vault client at scrape time.
type VaultState struct {
	// Up is false when the client's last Vault request failed.
	Up bool
	// TokenTTL is the token's remaining lifetime, meaningful when Expires is true.
	TokenTTL time.Duration
	// Expires is false for a token that never expires (a root token) or before the first login.
	Expires bool
}

// VaultCollector reports the state of the tracked Vault clients. The state is read at scrape time, so
// the token TTL is exact whenever it is read and a client that is no longer in service leaves no stale
// series behind. Clients are tracked by an opaque key; several clients with the same instance name (the
// same name in two manifests, or the old and new config during a reload) are reported as one series:
// up only if every one is up, and the shortest token TTL.
type VaultCollector struct {
	mu  sync.Mutex
	src map[any]vaultSource
}

type vaultSource struct {
	name  string
	state func() VaultState
}

// Track starts reporting a client under the instance name; state must be cheap and must not call back
// into the collector. Tracking an already tracked key replaces it.
func (c *VaultCollector) Track(key any, name string, state func() VaultState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src == nil {
		c.src = map[any]vaultSource{}
	}
	c.src[key] = vaultSource{name: name, state: state}
}

// Untrack stops reporting a client.
func (c *VaultCollector) Untrack(key any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.src, key)
}

// Describe implements prometheus.Collector.
func (c *VaultCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- vaultUpDesc
	ch <- vaultTTLDesc
}

// Collect implements prometheus.Collector.
func (c *VaultCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	srcs := make([]vaultSource, 0, len(c.src))
	for _, s := range c.src {
		srcs = append(srcs, s)
	}
	c.mu.Unlock()
	// The state functions take the clients' own locks: call them outside c.mu.
	type agg struct {
		up      bool
		ttl     time.Duration
		expires bool
	}
	byName := make(map[string]*agg, len(srcs))
	for _, s := range srcs {
		st := s.state()
		a := byName[s.name]
		if a == nil {
			a = &agg{up: true}
			byName[s.name] = a
		}
		a.up = a.up && st.Up
		if st.Expires && (!a.expires || st.TokenTTL < a.ttl) {
			a.ttl, a.expires = st.TokenTTL, true
		}
	}
	for name, a := range byName {
		up := 0.0
		if a.up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(vaultUpDesc, prometheus.GaugeValue, up, name)
		if a.expires {
			ch <- prometheus.MustNewConstMetric(vaultTTLDesc, prometheus.GaugeValue, a.ttl.Seconds(), name)
		}
	}
}

// secretCollectors are the collectors of this file, for All.
func secretCollectors() []prometheus.Collector {
	return []prometheus.Collector{SecretResolutions, VaultRequests, VaultRequestDuration, Vaults}
}
