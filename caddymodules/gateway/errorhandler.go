// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gateway

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/plugins"
)

func init() {
	caddy.RegisterModule(ErrorHandler{})
}

// ErrorHandler is the `dsp_error` handler, meant for `handle_errors`: it renders the error a handler
// returned as the OpenAI error shape {"error":{"message","type","code","request_id"}} with the right status
// and an X-Request-Id header. Errors built by FD2 stages carry a safe client message; any other error
// (a reverse proxy dial error, say) gets a generic message for its status, so internal addresses and
// causes never reach the client. It writes the response and does not call the next handler.
type ErrorHandler struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (ErrorHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.dsp_error", New: func() caddy.Module { return new(ErrorHandler) }}
}

// Provision takes the logger.
func (h *ErrorHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	return nil
}

// ServeHTTP renders the error.
func (h *ErrorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	err, _ := r.Context().Value(caddyhttp.ErrorCtxKey).(error)
	status := http.StatusInternalServerError
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		status = he.StatusCode
	}
	ae := apierr.FromError(status, err)
	rid := ""
	st := RequestFrom(r)
	if st != nil {
		rid = st.RequestID()
	} else if he.ID != "" {
		rid = he.ID
	} else {
		rid = plugins.NewUUID()
	}
	w.Header().Set("X-Request-Id", rid)
	// One line per failed request with the whole cause chain (Caddy logs handler errors only at DEBUG once
	// handle_errors has rendered them): ERROR for the gateway's and upstreams' failures, DEBUG for the
	// client's own (the access log has those). Causes name hosts and reasons, never credentials: FD2's
	// errors are built so, and secret values are secrets.Value, which redacts itself.
	level := zapcore.DebugLevel
	if ae.Status >= 500 {
		level = zapcore.ErrorLevel
	}
	if c := h.logger.Check(level, "request failed"); c != nil {
		fields := []zap.Field{zap.Int("status", ae.Status), zap.String("code", ae.Code), zap.String("request_id", rid)}
		if st != nil {
			fields = append(fields, zap.String("project", st.Project))
			if st.Route != nil {
				fields = append(fields, zap.String("route", st.Route.ID))
			}
		}
		c.Write(append(fields, zap.Error(err))...)
	}
	ae.Write(w, rid)
	return nil
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_error
func (h *ErrorHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("dsp_error takes no options")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*ErrorHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ErrorHandler)(nil)
	_ caddyfile.Unmarshaler       = (*ErrorHandler)(nil)
)
