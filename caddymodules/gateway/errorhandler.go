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
	if st := RequestFrom(r); st != nil {
		rid = st.RequestID()
	} else if he.ID != "" {
		rid = he.ID
	} else {
		rid = plugins.NewUUID()
	}
	w.Header().Set("X-Request-Id", rid)
	if ae.Status >= 500 {
		if c := h.logger.Check(zapcore.DebugLevel, "request failed"); c != nil {
			c.Write(zap.Int("status", ae.Status), zap.String("code", ae.Code), zap.String("request_id", rid), zap.Error(err))
		}
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
