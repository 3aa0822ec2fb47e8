// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package moduletypes

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/broker"
	"github.com/dsp-ai/fd2/dsp/manifest"
	"github.com/dsp-ai/fd2/dsp/plan"
)

func init() {
	caddy.RegisterModule(JWTConfig{})
}

// JWTConfig (`dsp.modules.jwt_config`) is the token broker: POST /{project}/{module}/token takes the
// client's {username, password} to the module's JWT service with the module config as api_key_config
// (spec §3.6), and answers what the service answers.
type JWTConfig struct {
	config []byte
	broker broker.Broker
}

// CaddyModule returns the Caddy module information.
func (JWTConfig) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + "." + manifest.TypeJWTConfig, New: func() caddy.Module { return new(JWTConfig) }}
}

// Configure keeps the module config, which the broker forwards as is (the platform's schema).
func (m *JWTConfig) Configure(spec *plan.ModuleSpec) error {
	var probe map[string]any
	if err := spec.Module.DecodeConfig(&probe); err != nil {
		return err
	}
	m.config = spec.Module.Config
	return nil
}

// Serve brokers one login.
func (m *JWTConfig) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "request_too_large", "token request body is too large", nil)
		}
		return fail(http.StatusBadRequest, "invalid_request", "reading request body failed", err)
	}
	start := time.Now()
	res, err := m.broker.Token(r.Context(), m.config, body)
	took := time.Since(start)
	x.Upstream += took
	timeout := err != nil && (errors.Is(err, context.DeadlineExceeded) || broker.IsTimeout(err))
	configErr := errors.Is(err, broker.ErrNoServiceURL) || errors.Is(err, broker.ErrInvalidConfig)
	switch {
	case err == nil:
		x.UpstreamStatus = res.Status
		if !x.NoMetrics {
			x.Route.Series.ObserveUpstream(res.Status, 0, took)
		}
	case x.NoMetrics:
	case timeout:
		x.Route.Series.ObserveUpstream(-1, 0, took)
	case !errors.Is(err, broker.ErrBadRequest) && !configErr:
		x.Route.Series.ObserveUpstream(0, 0, took)
	}
	switch {
	case errors.Is(err, broker.ErrBadRequest):
		return fail(http.StatusBadRequest, "invalid_request", "a JSON body with string username and password is required", err)
	case configErr:
		// The original dumped the module config (secrets included) into this message; FD2 does not.
		return fail(http.StatusInternalServerError, "jwt_service_unconfigured", "JWT service URL not configured in module "+x.Route.Module, err)
	case timeout:
		return fail(http.StatusGatewayTimeout, "upstream_timeout", "the JWT service timed out", err)
	case err != nil:
		return fail(http.StatusBadGateway, "upstream_unavailable", "the JWT service is unavailable", err)
	}
	ct := res.ContentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(res.Status)
	_, err = w.Write(res.Body)
	return err
}

func fail(status int, code, msg string, cause error) error {
	return caddyhttp.Error(status, apierr.Wrap(status, code, msg, cause))
}

var _ gateway.ModuleType = (*JWTConfig)(nil)
