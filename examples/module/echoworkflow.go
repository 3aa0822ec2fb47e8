// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package echoworkflow is a complete third-party manifest module type, `dsp.modules.echo_workflow`: the
// example that docs/modules.md walks through. It lives in its own Go module, outside FD2's, and is built
// into FD2 with xcaddy:
//
//	xcaddy build v2.11.9 \
//		--with github.com/dsp-ai/fd2@v0.0.0-00010101000000-000000000000=../.. \
//		--with github.com/dsp-ai/fd2/examples/module@v0.0.0-00010101000000-000000000000=.
//
// A manifest module of type echo_workflow:
//
//	{"module_type": "echo_workflow", "name": "greeter", "config": {"greeting": "hello"}}
//
// gets the module route /{project}/greeter/*, and POST /{project}/greeter/run with a JSON object body
// answers
//
//	{"greeting": "hello", "project": "…", "module": "greeter", "consumer": "…", "request_id": "…", "input": {…}}
//
// consumer is the authenticated consumer ("" on a route without authentication), request_id the request's
// id (the client's X-Request-Id when it sent a sane one), input the body as sent.
package echoworkflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dsp-ai/fd2/caddymodules/gateway"
	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/metrics"
	"github.com/dsp-ai/fd2/dsp/plan"
	"github.com/dsp-ai/fd2/dsp/reqbody"
)

func init() {
	caddy.RegisterModule(Module{})
	// Module types are provisioned in their project version's own context, whose metrics registry nobody
	// scrapes: the dsp app registers included collectors into each config's registry instead.
	metrics.Include(runs)
}

// MaxGreetingLength bounds the greeting, in characters.
const MaxGreetingLength = 200

// runs counts runs by outcome. Labels are bounded: project (guarded by metrics.Projects) and module come
// from manifests the operator controls, result is a fixed set.
var runs = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "fd2_echo_workflow_runs_total",
	Help: "Runs of echo_workflow modules, by project, module and result (ok, invalid_request, request_too_large).",
}, []string{"project", "module", "result"})

// Module is the `dsp.modules.echo_workflow` module type. FD2 makes one per manifest module and project
// version: Configure (also run when the version compiles, to report a bad config before any request),
// then Provision, then Serve for every request of the module's routes, until the version leaves the
// project pool.
type Module struct {
	// Greeting is echoed back by every run. Required, at most MaxGreetingLength characters.
	Greeting string `json:"greeting"`

	name   string
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: gateway.ModuleNamespace + ".echo_workflow", New: func() caddy.Module { return new(Module) }}
}

// Configure decodes the module's config strictly (an unknown field is an error naming it) and validates
// it. It starts nothing: FD2 calls it at compile time too.
func (m *Module) Configure(spec *plan.ModuleSpec) error {
	if err := spec.Decode(m); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(m.Greeting) == "":
		return errors.New(`field "greeting": required`)
	case utf8.RuneCountInString(m.Greeting) > MaxGreetingLength:
		return fmt.Errorf(`field "greeting": longer than %d characters`, MaxGreetingLength)
	}
	m.name = spec.Name()
	m.logger = zap.NewNop() // until Provision: moduletest builds modules without Caddy
	return nil
}

// Provision takes the logger. A module that starts something here (connections, goroutines on ctx.Done())
// implements caddy.CleanerUpper too: FD2 runs Cleanup when the project version leaves the pool and its last
// request has finished.
func (m *Module) Provision(ctx caddy.Context) error {
	// FD2 provisions module types itself, in the project version's context, which names no module: pass
	// the module so that the logger is named dsp.modules.echo_workflow and the config's log filters apply.
	m.logger = ctx.Logger(m)
	return nil
}

// Serve answers the module's routes: POST …/run; anything else is 404 (405 for …/run with another
// method).
func (m *Module) Serve(w http.ResponseWriter, r *http.Request, x *plan.Exchange) error {
	if x.Rest() != "/run" {
		return fail(http.StatusNotFound, "not_found", "echo_workflow serves POST /"+x.ProjectID+"/"+m.name+"/run")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	}
	body, err := x.Body(r) // read once under FD2's cap, shared with every stage that reads it
	if err != nil {
		var tl *reqbody.TooLargeError
		if errors.As(err, &tl) {
			m.count(x, "request_too_large")
			return fail(http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body exceeds %d bytes", tl.Limit))
		}
		m.count(x, "invalid_request")
		return caddyhttp.Error(http.StatusBadRequest, apierr.Wrap(http.StatusBadRequest, "invalid_request", "reading the request body failed", err))
	}
	var input map[string]any
	if err := json.Unmarshal(body, &input); err != nil || input == nil {
		m.count(x, "invalid_request")
		return fail(http.StatusBadRequest, "invalid_request", "the body must be a JSON object")
	}
	m.count(x, "ok")
	if c := m.logger.Check(zapcore.DebugLevel, "echo_workflow run"); c != nil {
		// Ids and sizes only: never the body, a key or a claim.
		c.Write(zap.String("project", x.ProjectID), zap.String("module", m.name),
			zap.String("request_id", x.RequestID()), zap.Int("input_bytes", len(body)))
	}
	out, err := json.Marshal(struct {
		Greeting  string         `json:"greeting"`
		Project   string         `json:"project"`
		Module    string         `json:"module"`
		Consumer  string         `json:"consumer"`
		RequestID string         `json:"request_id"`
		Input     map[string]any `json:"input"`
	}{m.Greeting, x.ProjectID, m.name, x.Consumer(), x.RequestID(), input})
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("encoding the answer: %w", err))
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(append(out, '\n'))
	return err
}

func (m *Module) count(x *plan.Exchange, result string) {
	if !x.NoMetrics { // the site turned FD2's metrics off
		runs.WithLabelValues(metrics.Projects.Value(x.ProjectID), m.name, result).Inc()
	}
}

// fail is an error in FD2's shape ({"error":{"message","type","code"}}) with its exact status.
func fail(status int, code, msg string) error {
	return caddyhttp.Error(status, apierr.New(status, code, msg))
}

// Interface guards.
var (
	_ gateway.ModuleType = (*Module)(nil)
	_ caddy.Provisioner  = (*Module)(nil)
)
