// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package pipeline

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/caddymodules/internal/caddyfileopt"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/plugins"
	"github.com/dsp-ai/fd2/dsp/reqbody"
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
	renderError(w, r, err, h.logger)
	return nil
}

// Respond is how FD2's stages hand an error to the client. Where the server has `handle_errors` routes it
// returns err, and those routes render it (dsp_error, or whatever the operator wrote). Where it has none,
// Caddy would answer with an empty body — an OpenAI SDK then shows "404 status code (no body)" — so Respond
// writes FD2's JSON error itself and returns nil; the outer stages then see a response, not an error. A
// response already under way is left alone (err is returned): nothing sensible can follow its headers.
//
// Every FD2 handler that can end a request passes its result through Respond; the innermost one does the
// rendering, so errors of non-FD2 handlers behind it (a reverse_proxy's 502) get the JSON shape too.
func Respond(w http.ResponseWriter, r *http.Request, err error, logger *zap.Logger) error {
	if err == nil {
		return nil
	}
	if srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); srv == nil ||
		srv.Errors != nil && len(srv.Errors.Routes) > 0 {
		return err
	}
	if x := existingExchange(r); x != nil && x.Status != 0 || headerWritten(w) {
		return err
	}
	renderError(w, r, err, logger)
	return nil
}

// StatusOf is the HTTP status an error returned by a handler stands for (Caddy's rule: a HandlerError's
// status, else 500).
func StatusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) && he.StatusCode != 0 {
		return he.StatusCode
	}
	return http.StatusInternalServerError
}

// headerWritten reports whether some writer in w's chain has recorded a status (Caddy's access-log
// recorder does, when logs are on). Without a recorder it cannot know and says no.
func headerWritten(w http.ResponseWriter) bool {
	for range 16 { // wrapper chains are short; the bound keeps a cyclic Unwrap from spinning
		if s, ok := w.(interface{ Status() int }); ok && s.Status() != 0 {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// renderError writes err as {"error":{"message","type","code","request_id"}} with its status and an
// X-Request-Id header. Errors built by FD2 stages carry a safe client message; any other error (a reverse
// proxy dial error, say) gets a generic message for its status, so internal addresses and causes never
// reach the client.
func renderError(w http.ResponseWriter, r *http.Request, err error, logger *zap.Logger) {
	status := StatusOf(err)
	ae := apierr.FromError(status, err)
	var rid string
	st := existingExchange(r)
	var he caddyhttp.HandlerError
	switch {
	case st != nil:
		rid = st.RequestID()
	case errors.As(err, &he) && he.ID != "":
		rid = he.ID
	default:
		rid = plugins.NewUUID()
	}
	w.Header().Set("X-Request-Id", rid)
	// One line per failed request with the whole cause chain (Caddy logs handler errors only at DEBUG once
	// handle_errors has rendered them, and not at all when FD2 rendered them): ERROR for the gateway's and
	// upstreams' failures, DEBUG for the client's own (the access log has those). Causes name hosts and
	// reasons, never credentials: FD2's errors are built so, and secret values are secrets.Value, which
	// redacts itself.
	level := zapcore.DebugLevel
	if ae.Status >= 500 {
		level = zapcore.ErrorLevel
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	if c := logger.Check(level, "request failed"); c != nil {
		fields := []zap.Field{zap.Int("status", ae.Status), zap.String("code", ae.Code), zap.String("request_id", rid)}
		if st != nil {
			fields = append(fields, zap.String("project", st.ProjectID))
			if st.Route != nil {
				fields = append(fields, zap.String("route", st.Route.ID))
			}
		}
		c.Write(append(fields, zap.Error(err))...)
	}
	ae.WriteFor(w, r.URL.Path, rid)
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	dsp_error
func init() {
	httpcaddyfile.RegisterHandlerDirective("dsp_error", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		m := new(ErrorHandler)
		return m, m.UnmarshalCaddyfile(h.Dispenser)
	})
}

func (h *ErrorHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return caddyfileopt.Directive(d, func(string) error { return d.Errf("dsp_error takes no options") })
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*ErrorHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ErrorHandler)(nil)
	_ caddyfile.Unmarshaler       = (*ErrorHandler)(nil)
)

// BodyError is the client's answer to a request body that could not be read whole (plan.Exchange.Body):
// 413 over the cap, else 400.
func BodyError(err error) error {
	var tl *reqbody.TooLargeError
	if errors.As(err, &tl) {
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, apierr.New(http.StatusRequestEntityTooLarge,
			"request_too_large", "the request body exceeds "+humanize.IBytes(uint64(tl.Limit))))
	}
	return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", "reading request body failed", err))
}
